"""Memory and Redis stores: bounds, expiry, NeMo Relay's Redis layout, compression."""

from __future__ import annotations

import json

import redis

from adaptive.cache import CacheOptions
from adaptive.cache.entry import COMPRESSED_MAGIC, CacheEntry
from adaptive.cache.stores import MemoryCacheStore, RedisCacheStore
from tests.cache.test_cross_process import split


def entry(key: str, text: str = "x", ttl_ms: int = 60_000) -> CacheEntry:
    return CacheEntry.fresh(
        {"text": text}, key_hash=key, ttl_ms=ttl_ms, model_name="m", provider_name="openai"
    )


async def test_memory_store_is_bounded_by_bytes_least_recently_used_first() -> None:
    store = MemoryCacheStore(max_bytes=2200)
    for name in "abc":
        await store.set(name, entry(name, "y" * 400))
    assert len(store) == 3
    await store.get("a")  # a is now the most recently used
    await store.set("d", entry("d", "y" * 400))
    assert await store.get("b") is None
    assert [await store.get(k) is not None for k in "acd"] == [True, True, True]
    assert store.total_bytes <= 2200
    await store.set("huge", entry("huge", "z" * 5000))
    assert await store.get("huge") is None


async def test_memory_store_drops_expired_entries() -> None:
    store = MemoryCacheStore(max_bytes=10_000)
    await store.set("k", entry("k", ttl_ms=-1))
    assert await store.get("k") is None
    assert len(store) == 0


async def test_redis_store_writes_nemo_relays_entry_under_its_key(redis_url: str) -> None:
    server, prefix = split(redis_url)
    store = RedisCacheStore.from_url(server, prefix, CacheOptions())
    key = "sha256:" + "ab" * 32
    written = entry(key)
    await store.set(key, written)
    client = redis.Redis.from_url(server)
    raw = client.get(f"{prefix}{key}")
    assert raw is not None
    assert set(json.loads(raw)) == {
        "response",
        "created_unix_ms",
        "expires_unix_ms",
        "key_hash",
        "model_name",
        "provider_name",
    }
    assert 0 < client.pttl(f"{prefix}{key}") <= 60_000
    assert await store.get(key) == written
    token = await store.acquire(key, 5000)
    assert token is not None
    assert await store.acquire(key, 5000) is None
    await store.release(key, token)
    assert client.get(f"{prefix}lock:{key}") is None
    client.close()
    await store.close()


async def test_redis_store_compresses_large_values(redis_url: str) -> None:
    server, prefix = split(redis_url)
    store = RedisCacheStore.from_url(server, prefix, CacheOptions(compress_min_bytes=1024))
    key = "sha256:" + "cd" * 32
    big = entry(key, "word " * 2000)
    await store.set(key, big)
    client = redis.Redis.from_url(server)
    raw: bytes | None = client.get(f"{prefix}{key}")  # type: ignore[assignment]
    client.close()
    assert raw is not None and raw.startswith(COMPRESSED_MAGIC) and len(raw) < 2000
    assert await store.get(key) == big
    await store.close()
