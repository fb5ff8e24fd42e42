"""Where entries live: process memory (LRU bounded by bytes) or Redis (shared by every host).

Redis key layout (NeMo Relay 0.10.4's, verified live, plus our lock)::

    {key_prefix}{key_hash}         STRING  the entry JSON (``CacheEntry``), SET ... PX ttl_ms
    {key_prefix}lock:{key_hash}    STRING  single-flight lease: a random token, SET NX PX lease

``key_prefix`` defaults to ``nemo-relay:llm-cache:``; ``key_hash`` is ``sha256:<64 hex>``,
so the lock keys can never be taken for entries. A store never retries: a failure
raises ``CacheStoreError`` and the facade runs the call live.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any, Protocol

from adaptive.cache.config import CacheOptions, ResponseCacheConfig
from adaptive.cache.entry import ENTRY_OVERHEAD_BYTES, CacheEntry, now_ms
from adaptive.errors import AdaptiveError, ConfigError
from adaptive.storage.lru import LruCache

if TYPE_CHECKING:
    from redis.asyncio import Redis


class CacheStoreError(AdaptiveError):
    """The store could not answer; the call runs live (fail open)."""


class CacheStore(Protocol):
    kind: str
    """``in_memory`` or ``redis``: the mark's ``backend``."""
    shared: bool
    """Whether other processes see this store (so single-flight needs a shared lease)."""

    async def get(self, key: str) -> CacheEntry | None:
        """The live entry, or ``None``; ``EntryDecodeError`` if the value is not an entry."""

    async def set(self, key: str, entry: CacheEntry) -> None: ...

    async def acquire(self, key: str, lease_ms: int) -> str | None:
        """A lease token when this caller should compute ``key``, ``None`` if another holds it."""

    async def release(self, key: str, token: str) -> None: ...

    async def close(self) -> None: ...


def entry_size(entry: CacheEntry) -> int:
    """Approximate resident bytes: an OOM guard, not exact accounting (like NeMo Relay's)."""
    body = json.dumps(entry.response, separators=(",", ":"), ensure_ascii=False)
    chunks = 0 if entry.chunks is None else len(json.dumps(entry.chunks, separators=(",", ":")))
    return len(body) + chunks + 2 * len(entry.key_hash) + ENTRY_OVERHEAD_BYTES


def _weight(stored: tuple[CacheEntry, int]) -> int:
    return stored[1]


class MemoryCacheStore:
    """One process's store: least recently used entries go first past ``max_bytes``."""

    kind = "in_memory"
    shared = False

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: LruCache[str, tuple[CacheEntry, int]] = LruCache(max_bytes, _weight)

    @property
    def total_bytes(self) -> int:
        return self._entries._weight

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CacheEntry | None:
        return self.lookup(key)

    def lookup(self, key: str) -> CacheEntry | None:
        """``get`` without the coroutine: the facade's hit path calls this directly."""
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0].is_expired():
            self._entries.discard(key)
            return None
        return found[0]

    async def set(self, key: str, entry: CacheEntry) -> None:
        size = entry_size(entry)
        self._entries.discard(key)  # a fresher answer replaces the old one, stored or not
        if size <= self.max_bytes:
            self._entries.put(key, (entry, size))

    async def acquire(self, key: str, lease_ms: int) -> str | None:
        return "local"  # one process: the in-process single-flight already elected a leader

    async def release(self, key: str, token: str) -> None:
        return None

    async def close(self) -> None:
        return None


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisCacheStore:
    """Entries in Redis under NeMo Relay's layout, so both runtimes serve each other's."""

    kind = "redis"
    shared = True

    def __init__(self, client: Redis, key_prefix: str, options: CacheOptions) -> None:
        from redis.exceptions import RedisError

        self._client = client
        self.key_prefix = key_prefix
        self._options = options
        self._failures = (RedisError, OSError, TimeoutError)  # imported once, not per command

    @classmethod
    def from_url(cls, url: str, key_prefix: str, options: CacheOptions) -> RedisCacheStore:
        try:
            from redis.asyncio import Redis
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ConfigError(
                "the redis response-cache backend needs redis-py: "
                "pip install 'adaptive-runtime[redis]'"
            ) from error
        client = Redis.from_url(
            url,
            socket_timeout=options.redis_timeout_s,
            socket_connect_timeout=options.redis_timeout_s,
            retry_on_timeout=False,
        )
        return cls(client, key_prefix, options)

    def entry_key(self, key: str) -> str:
        return f"{self.key_prefix}{key}"

    def lock_key(self, key: str) -> str:
        return f"{self.key_prefix}lock:{key}"

    async def get(self, key: str) -> CacheEntry | None:
        value = await self._command("GET", self.entry_key(key))
        if value is None:
            return None
        entry = CacheEntry.decode(value)
        return None if entry.is_expired() else entry

    async def set(self, key: str, entry: CacheEntry) -> None:
        ttl_ms = max(1, entry.expires_unix_ms - now_ms())
        value = entry.encode(self._options.compress_min_bytes)
        await self._command("SET", self.entry_key(key), value, "PX", ttl_ms)

    async def acquire(self, key: str, lease_ms: int) -> str | None:
        token = secrets.token_hex(8)
        taken = await self._command("SET", self.lock_key(key), token, "NX", "PX", lease_ms)
        return token if taken else None

    async def release(self, key: str, token: str) -> None:
        await self._command("EVAL", _RELEASE, 1, self.lock_key(key), token)

    async def lease_held(self, key: str) -> bool:
        return bool(await self._command("EXISTS", self.lock_key(key)))

    async def close(self) -> None:
        await self._client.aclose()

    async def _command(self, *arguments: Any) -> Any:
        try:
            return await self._client.execute_command(*arguments)  # type: ignore[no-untyped-call]
        except self._failures as error:
            raise CacheStoreError(f"redis {arguments[0]}: {error}") from error


def open_store(config: ResponseCacheConfig, options: CacheOptions) -> CacheStore:
    """The backend the section names (connections open lazily, on first use)."""
    backend = config.backend
    if backend.kind == "in_memory":
        return MemoryCacheStore(backend.max_bytes)
    if backend.kind == "redis" and backend.url is not None:
        return RedisCacheStore.from_url(backend.url, backend.key_prefix, options)
    raise ConfigError(
        f"response_cache backend {backend.kind!r} cannot be opened; use in_memory, or redis "
        "with backend.config.url"
    )
