"""The memos behind the per-request rewrite: exact about JSON types, bounded, never stale."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adaptive.acg.providers.memo import (
    LongTexts,
    NotPlainJson,
    RecentMemo,
    SnapshotMemo,
    exact_key,
    exact_snapshot,
    private_copy,
)


def matches(source: Any, seen: Any) -> bool:
    """What the memos ask: does a new value (on the left, as they compare) equal one seen?"""
    return bool(source == exact_snapshot(seen))


SCALARS: list[Any] = [True, False, 1, 0, -1, 1.0, 0.0, -0.0, 2, 2.0, 0.5, "1", "", None]


@pytest.mark.parametrize("left", SCALARS, ids=repr)
@pytest.mark.parametrize("right", SCALARS, ids=repr)
def test_a_snapshot_equals_only_the_same_json_type_and_value(left: Any, right: Any) -> None:
    same = type(left) is type(right) and repr(left) == repr(right)
    assert matches(left, right) is same
    assert matches([{"v": left}], [{"v": right}]) is same


def test_a_snapshot_compares_containers_by_kind_and_content_not_member_order() -> None:
    value = {"a": [1, {"b": True}], "c": (1.5, None)}
    assert matches(value, value)
    assert matches({"c": (1.5, None), "a": [1, {"b": True}]}, value)
    assert not matches({"a": [1, {"b": 1}], "c": (1.5, None)}, value)
    assert not matches({"a": (1, {"b": True}), "c": (1.5, None)}, value)
    assert not matches({"a": [1, {"b": True}], "c": (1.5, None), "d": 1}, value)


def test_a_snapshot_is_private_so_later_edits_of_the_source_show() -> None:
    source = {"schema": {"minimum": 1}}
    snapshot = exact_snapshot(source)
    source["schema"]["minimum"] = 2
    assert source != snapshot


class Text(str):
    pass


@pytest.mark.parametrize("value", [Text("x"), {1: "a"}, {"a": {1, 2}}, [object()]], ids=repr)
def test_values_that_are_not_plain_json_are_never_snapshot(value: Any) -> None:
    with pytest.raises(NotPlainJson):
        exact_snapshot(value)
    memo: RecentMemo[str] = RecentMemo()
    memo.put(value, "result")
    assert len(memo) == 0


def test_exact_keys_keep_types_apart_and_copy_privately() -> None:
    assert len({exact_key(value) for value in ([True], [1], [1.0])}) == 3
    assert exact_key([Text("x")]) is None
    value = {"a": [1, 2.5, True, None, "s"]}
    key = exact_key(value)
    assert key is not None
    copy = private_copy(key)
    assert json.dumps(copy) == json.dumps(value)
    assert copy["a"] is not value["a"]


def test_recent_values_are_found_by_content_most_recent_first_and_bounded() -> None:
    memo: RecentMemo[int] = RecentMemo(max_entries=3)
    for number in range(4):
        memo.put([{"tool": number}], number)
    assert len(memo) == 3
    assert memo.get([{"tool": 0}]) is None  # the oldest fell out
    assert memo.get(json.loads('[{"tool": 1}]')) == 1  # a new object, equal content
    memo.put([{"tool": 4}], 4)
    assert memo.get([{"tool": 1}]) == 1  # moved to the front when found, so kept
    assert memo.get([{"tool": 2}]) is None
    assert memo.get([{"tool": True}]) is None
    assert memo.get([{"tool": 1.0}]) is None


def test_identity_entries_are_only_snapshot_once_an_object_comes_back() -> None:
    memo: SnapshotMemo[str] = SnapshotMemo()
    once = {"role": "user", "content": [{"type": "text", "text": "a"}]}
    memo.put(once, "decoded")
    assert len(memo) == 0  # a request rebuilt per call costs no snapshot
    assert memo.get(once) is None
    memo.put(once, "decoded")
    assert memo.get(once) == "decoded"
    assert memo.get(json.loads(json.dumps(once))) is None  # identity, not content
    once["content"][0]["text"] = "b"
    assert memo.get(once) is None  # edited in place since


def test_long_texts_come_back_as_the_copy_seen_first_only_when_equal() -> None:
    texts = LongTexts(min_length=8)
    first = "x" * 40 + "middle" + "y" * 40
    assert texts.intern(first) is first
    again = "".join(["x" * 40, "middle", "y" * 40])
    assert again is not first
    assert texts.intern(again) is first
    other = "x" * 40 + "MIDDLE" + "y" * 40  # same length and ends, other text
    assert texts.intern(other) is other
    short = "".join(["ab", "c"])
    assert texts.intern(short) is short
    subclass = Text(first)
    assert texts.intern(subclass) is subclass
