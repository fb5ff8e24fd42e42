"""Storage: one protocol, several backends, chosen by configuration."""

from adaptive.storage.factory import create_backend
from adaptive.storage.memory import MemoryBackend
from adaptive.storage.protocol import StateChanges, StateReader, StorageBackend, UnitOfWork

__all__ = [
    "MemoryBackend",
    "StateChanges",
    "StateReader",
    "StorageBackend",
    "UnitOfWork",
    "create_backend",
]
