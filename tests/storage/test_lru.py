from adaptive.storage.lru import LruCache


def test_forgets_the_least_recently_used_entry_beyond_capacity() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)


def test_capacity_is_a_total_weight_when_entries_are_weighed() -> None:
    cache: LruCache[str, bytes] = LruCache(10, weigh=len)
    cache.put("a", b"12345")
    cache.put("b", b"1234")
    cache.put("a", b"123")  # replacing an entry re-weighs it: 7 of 10
    cache.put("c", b"1234")  # 11 > 10: "b", the oldest, goes
    assert (cache.get("b"), cache.get("a"), cache.get("c")) == (None, b"123", b"1234")
    cache.discard("a")
    cache.put("d", b"123456")  # 4 + 6 fits once "a" is gone
    assert len(cache) == 2


def test_an_entry_heavier_than_the_capacity_is_not_kept() -> None:
    cache: LruCache[str, bytes] = LruCache(3, weigh=len)
    cache.put("big", b"1234")
    assert cache.get("big") is None and len(cache) == 0
