"""Bounded memos that let the per-request rewrite reuse work on unchanged request parts.

Agents resend the same system prompt, tool list and earlier turns with every
request, usually as the very same Python objects. Hashing or dumping them to
find earlier results would cost as much as recomputing, so ``SnapshotMemo``
keys on object identity and guards against in-place edits with a private
deep snapshot compared by ``==`` (C speed; only a swap between ``True``,
``1`` and ``1.0`` inside a container would go unnoticed).
"""

from __future__ import annotations

import json
import marshal
from typing import Any, Generic, TypeVar

V = TypeVar("V")
K = TypeVar("K")

_DEFAULT_ENTRIES = 4096

_json_text = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False
).encode


def content_key(value: Any) -> bytes | str:
    """A content key for a JSON value, equal only for equal values of equal types.

    ``marshal`` format 2 (about four times faster than a JSON dump: a request
    arriving through NeMo Relay is a new object every time, so its tool list
    is found by content) writes ``True``, ``1`` and ``1.0`` apart and has no
    back-references, so its bytes depend on the value alone; another key
    order is another key, which only costs a miss. Values marshal refuses
    (subclasses of the builtins) fall back to their JSON text, a ``str``, which
    never equals a ``bytes`` key.
    """
    try:
        return marshal.dumps(value, 2)
    except ValueError:
        return _json_text(value)


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


class SnapshotMemo(Generic[V]):
    """Results for mutable JSON values, reused while the same object is unchanged.

    The memo holds a reference to each source object, so its id cannot be
    reused while the entry lives. A value that is not plain JSON (dict, list,
    str, int, float, bool, None) cannot be snapshot and is never remembered.
    """

    def __init__(self, max_entries: int = _DEFAULT_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: dict[int, tuple[object, object, V]] = {}

    def get(self, source: object) -> V | None:
        entry = self._entries.get(id(source))
        if entry is None or entry[0] is not source or source != entry[1]:
            return None
        return entry[2]

    def put(self, source: Any, value: V) -> V:
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
