"""Bounded memos that let the per-request rewrite reuse work on unchanged request parts.

Agents resend the same system prompt, tool list and earlier turns with every
request. Through NeMo Relay they arrive as new objects every time (an
execution intercept gets ``request.content`` freshly converted), so the
memos here find a part by its content, exactly (``True``, ``1`` and ``1.0``
never match each other): ``RecentMemo`` by comparing it with exact snapshots
of the few parts seen last (no dump, no hash of a large value), ``exact_key``
by ``marshal`` bytes, ``LongTexts`` by length and ends, then ``==``.
``SnapshotMemo`` keys on object identity for callers that do resend the same
objects, and only pays for a snapshot once it has seen an object twice.
"""

from __future__ import annotations

import marshal
from math import copysign
from typing import Any, Generic, TypeVar

V = TypeVar("V")
K = TypeVar("K")

_DEFAULT_ENTRIES = 4096
_RECENT_ENTRIES = 16


def exact_key(value: Any) -> bytes | None:
    """A content key equal only for equal JSON values of equal types; None if not plain JSON.

    ``marshal`` format 2 writes ``True``, ``1`` and ``1.0`` (and ``0.0``,
    ``-0.0``) apart and has no back-references, so its bytes depend on the
    value alone; another member order is another key, which only costs a
    miss. It refuses subclasses of the builtins: such a value is not
    memoized. A memo computes its value from ``private_copy(key)``, so
    nothing the caller still holds (and may edit later) is kept.
    """
    try:
        return marshal.dumps(value, 2)
    except ValueError:
        return None


def private_copy(key: bytes) -> Any:
    """A deep copy of the value ``exact_key`` returned ``key`` for, owned by nobody else."""
    return marshal.loads(key)


class _ExactScalar:
    """Stands in a snapshot for a number: equal only to the same type and value.

    Python's ``==`` finds ``True``, ``1`` and ``1.0`` equal; NeMo Relay's
    decoders and canonical JSON do not, so a snapshot compared with ``==``
    must not either. Python asks this object (the reflected operand) as soon
    as the builtin number on the left declines to compare with it.
    """

    __slots__ = ("value",)

    def __init__(self, value: bool | int | float) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"exact({self.value!r})"


class _ExactInt(_ExactScalar):
    def __eq__(self, other: object) -> bool:
        return type(other) is int and other == self.value


class _ExactBool(_ExactScalar):
    def __eq__(self, other: object) -> bool:
        return other is self.value


class _ExactFloat(_ExactScalar):
    """``-0.0`` and ``0.0`` differ too (marshal writes them apart)."""

    __slots__ = ("sign",)

    def __init__(self, value: float) -> None:
        super().__init__(value)
        self.sign = copysign(1.0, value)

    def __eq__(self, other: object) -> bool:
        if type(other) is not float or other != self.value:
            return False
        return other != 0.0 or copysign(1.0, other) == self.sign


class NotPlainJson(ValueError):
    """The value holds a type other than dict (with str keys), list, tuple, str, numbers, None."""


def exact_snapshot(value: Any) -> Any:
    """A private copy of a JSON value that ``==`` compares exactly with an equal-content value.

    Containers are copied (the caller may edit its own in place later),
    strings are shared (immutable; an identical string compares without a
    ``memcmp``), numbers are replaced by exact stand-ins. ``source ==
    snapshot`` then runs at C speed and is true only when ``source`` holds
    the same JSON value with the same types; object member order is not
    compared (every result memoized this way is built from canonical, sorted
    JSON or from a member lookup, where the order does not matter). Raises
    ``NotPlainJson`` for anything else, including subclasses of the builtins.
    """
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is dict:
        if not all(type(name) is str for name in value):
            raise NotPlainJson("object member names must be strings")
        return {name: exact_snapshot(item) for name, item in value.items()}
    if kind is list:
        return [exact_snapshot(item) for item in value]
    if kind is tuple:
        return tuple(exact_snapshot(item) for item in value)
    if kind is int:
        return _ExactInt(value)
    if kind is float:
        return _ExactFloat(value)
    if kind is bool:
        return _ExactBool(value)
    raise NotPlainJson(f"not a plain JSON value: {kind.__name__}")


class BoundedMemo(Generic[K, V]):
    """A dict that empties itself when full, so memory stays bounded without bookkeeping."""

    def __init__(self, max_entries: int = _DEFAULT_ENTRIES) -> None:
        self.max_entries = max_entries
        self._values: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._values.get(key)

    def put(self, key: K, value: V) -> V:
        if len(self._values) >= self.max_entries:
            self._values.clear()
        self._values[key] = value
        return value

    def __len__(self) -> int:
        return len(self._values)


class LongTexts:
    """Long strings seen before, handed back as the copy whose hash is already computed.

    A system prompt arrives as a new ``str`` with every request and is looked
    up in several memos; the first lookup would hash all of it (about 1 us
    per 4 kB). Here it is found by its length and ends, confirmed by one
    ``==`` (a ``memcmp``), and the earlier copy, hash cached, stands in for it.
    """

    def __init__(self, min_length: int = 256, max_entries: int = 256) -> None:
        self.min_length = min_length
        self.max_entries = max_entries
        self._texts: dict[tuple[int, str, str], str] = {}

    def intern(self, text: str) -> str:
        """``text`` or an equal string seen before; never a different value."""
        if len(text) < self.min_length or type(text) is not str:
            return text
        key = (len(text), text[:32], text[-32:])
        known = self._texts.get(key)
        if known is not None and known == text:
            return known
        if len(self._texts) >= self.max_entries:
            self._texts.clear()
        self._texts[key] = text
        return text


class RecentMemo(Generic[V]):
    """Results for the few JSON values seen last, found again by content without hashing it.

    A large part that repeats by content but arrives as new objects (a tool
    list) costs a full dump to key by bytes; comparing it with an exact
    snapshot of the same part seen before is a C-speed walk that stops at the
    first difference. Most recent first; a value seen again moves to the
    front, the oldest falls out.
    """

    def __init__(self, max_entries: int = _RECENT_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: list[tuple[Any, V]] = []

    def get(self, source: Any) -> V | None:
        entries = self._entries
        try:
            for index, (snapshot, value) in enumerate(entries):
                if source == snapshot:
                    if index:
                        entries.insert(0, entries.pop(index))
                    return value
        except RecursionError:
            return None
        return None

    def put(self, source: Any, value: V) -> V:
        """Remember ``value`` for ``source``'s content; a value that is not plain JSON is not."""
        try:
            snapshot = exact_snapshot(source)
        except (NotPlainJson, RecursionError):
            return value
        self._entries.insert(0, (snapshot, value))
        del self._entries[self.max_entries :]
        return value

    def __len__(self) -> int:
        return len(self._entries)


class SnapshotMemo(Generic[V]):
    """Results for mutable JSON values, reused while the same object is unchanged.

    An object is remembered the second time it is offered: snapshotting every
    new object would cost each request that is rebuilt from scratch (every
    request through NeMo Relay) a copy of parts it never sends again. The
    first sighting only holds a reference, so that its id cannot be reused
    for another object while the entry lives. Entries compare with their
    snapshot by ``==`` (C speed; only a swap between ``True``, ``1`` and
    ``1.0`` inside a container would go unnoticed). A value that is not plain
    JSON cannot be snapshot and is never remembered.
    """

    def __init__(self, max_entries: int = _DEFAULT_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: dict[int, tuple[object, object, V]] = {}
        self._seen: dict[int, Any] = {}

    def get(self, source: object) -> V | None:
        entry = self._entries.get(id(source))
        if entry is None or entry[0] is not source or source != entry[1]:
            return None
        return entry[2]

    def put(self, source: Any, value: V) -> V:
        if self._seen.get(id(source)) is not source:
            if len(self._seen) >= self.max_entries:
                self._seen.clear()
            self._seen[id(source)] = source
            return value
        try:
            snapshot = marshal.loads(marshal.dumps(source))
        except ValueError:
            return value
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[id(source)] = (source, snapshot, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)
