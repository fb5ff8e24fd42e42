"""Build a storage backend from a ``BackendSpec``."""

from __future__ import annotations

from adaptive.config import BackendKind, BackendSpec
from adaptive.errors import ConfigError
from adaptive.storage.memory import MemoryBackend
from adaptive.storage.protocol import StorageBackend


def create_backend(spec: BackendSpec) -> StorageBackend:
    """A backend for the spec, not yet opened."""
    if spec.kind is BackendKind.MEMORY:
        return MemoryBackend()
    raise ConfigError(
        f"backend kind {spec.kind.value!r} is not available in this version of adaptive; "
        "use memory:// for now"
    )
