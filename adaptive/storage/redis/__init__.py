"""Redis backend: NeMo Relay's key layout and JSON, written in WATCH/MULTI units of work.

See ``backend.py`` for the key layout, the concurrency design and retention.
"""

from adaptive.storage.redis.backend import RedisBackend
from adaptive.storage.redis.errors import ConcurrentUpdateError

__all__ = ["ConcurrentUpdateError", "RedisBackend"]
