"""A bounded least-recently-used mapping, shared by the backends' decoded-value caches."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A mapping that forgets the least recently used entries beyond a total weight.

    Each entry weighs 1 unless ``weigh`` says otherwise (e.g. its size in bytes),
    so ``capacity`` is an entry count or a byte budget.
    """

    def __init__(self, capacity: int, weigh: Callable[[V], int] = lambda _: 1) -> None:
        self.capacity = capacity
        self._weigh = weigh
        self._weight = 0
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        self.discard(key)
        self._items[key] = value
        self._weight += self._weigh(value)
        while self._weight > self.capacity and self._items:
            _, evicted = self._items.popitem(last=False)
            self._weight -= self._weigh(evicted)

    def discard(self, key: K) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._weight -= self._weigh(old)

    def __len__(self) -> int:
        return len(self._items)
