"""The C-speed RFC 8785 path writes the ``rfc8785`` package's exact bytes, or steps aside."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adaptive.acg import fast_canonical as canonical

TRICKY_CHARACTERS = [
    "\x00", "\x08", "\x0c", "\x1f", "\x7f", '"', "\\", "/", "\u2028", "\u2029", "\ud800",
    "\udfff", "\ue000", "\uffff", "\U00010000", "\U0001f600", "\U0010ffff", "é", "\u0301",
]  # fmt: skip
"""Escapes, the separators JavaScript once refused, lone surrogates, and the two ranges
(U+E000..U+FFFF, beyond U+FFFF) whose order differs between UTF-16 and code points."""

characters = st.one_of(st.characters(), st.sampled_from(TRICKY_CHARACTERS))
texts = st.text(characters, max_size=8)
integers = st.one_of(
    st.integers(),
    st.integers(min_value=2**53 - 3, max_value=2**53 + 3),
    st.integers(min_value=-(2**53) - 3, max_value=-(2**53) + 3),
)
FLOATS = [
    0.0, -0.0, 1e-7, 5e-5, 1e-4, 0.1, 1.5, 1e15, 1e16, 1e21, 2.0**53, -(2.0**53), 2.0**53 + 2,
    math.nextafter(2.0**53, 0), 123456789.125, 5e-324, 1.7976931348623157e308,
]  # fmt: skip
"""Both sides of every formatting boundary: exponents (1e-7, 1e-4, 1e16, 1e21), 2**53."""
floats = st.one_of(
    st.floats(),
    st.integers(min_value=-(2**54), max_value=2**54).map(float),  # integral floats
    st.sampled_from(FLOATS),
)
scalars = st.one_of(st.none(), st.booleans(), integers, floats, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(texts, inner, max_size=5),
    ),
    max_leaves=25,
)


def exact(value: Any) -> bytes | type[BaseException]:
    """The package's bytes, or the class of what it raises."""
    try:
        return rfc8785.dumps(value)
    except Exception as error:  # any refusal: the fast path must then step aside
        return type(error)


@settings(max_examples=1500, deadline=None)
@given(json_values)
@example({"\ue000": 1, "\U00010000": 2})  # code points and UTF-16 disagree on this order
@example([True, 1, 1.0, 0.0, -0.0, False, 0])
@example({"big": 2**53, "edge": 2**53 - 1, "float": 2.0**53, "tiny": 1e-7})
@example('\u2028\x7f\x00"\\\ud800')
def test_the_fast_path_writes_the_packages_bytes_or_steps_aside(value: Any) -> None:
    expected = exact(value)
    fast = canonical.fast_dumps(value)
    if fast is not None:
        assert fast == expected
    assert isinstance(expected, bytes) or fast is None
    try:
        assert canonical.dumps(value) == expected
    except Exception as error:
        assert type(error) is expected


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1), st.text()),
        lambda inner: st.one_of(
            st.lists(inner, max_size=5), st.dictionaries(st.text(), inner, max_size=5)
        ),
        max_leaves=25,
    )
)
def test_json_without_floats_beyond_bmp_names_or_surrogates_takes_the_fast_path(
    value: Any,
) -> None:
    # st.text() draws no surrogates; characters beyond U+FFFF are the one remaining refusal
    if max(json.dumps(value, ensure_ascii=False), default="") < "\U00010000":
        assert canonical.fast_dumps(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, b"1"),
        (-0.0, b"0"),
        (0.5, b"0.5"),
        ([1.0, {"a": [2.0]}], b'[1,{"a":[2]}]'),
        (True, b"true"),
        ((1, "x"), b'[1,"x"]'),
        ({"b": 1, "a": "\u2028\x1f"}, b'{"a":"\xe2\x80\xa8\\u001f","b":1}'),
    ],
)
def test_fast_path_examples(value: Any, text: bytes) -> None:
    assert canonical.fast_dumps(value) == text == rfc8785.dumps(value)


class Level(enum.IntEnum):
    HIGH = 2


class Text(str):
    def encode(self, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        return b"\x00"


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1},  # a name beyond the BMP: orders differ
        5e-05,  # Python writes an exponent, ECMAScript does not
        1e-07,  # both write one, spelled differently
        2**53,  # the package refuses it
        float("nan"),
        Level.HIGH,  # subclasses: either writer may call what they override
        {Text("a"): 1},
        ["\ud800"],  # lone surrogate
        {1: "x"},
        object(),
    ],
)
def test_the_fast_path_steps_aside_where_it_cannot_vouch(value: Any) -> None:
    assert canonical.fast_dumps(value) is None


def test_integral_floats_are_converted_in_copies_never_in_place() -> None:
    inner = {"t": 0.0, "s": "x"}
    value = {"params": inner, "list": [1.0, "y"], "same": {"k": "v"}}
    converted = canonical.ready(value)
    assert converted == {"params": {"t": 0, "s": "x"}, "list": [1, "y"], "same": {"k": "v"}}
    assert type(converted["params"]["t"]) is int
    assert type(inner["t"]) is float and type(value["list"][0]) is float  # type: ignore[index]
    assert converted["same"] is value["same"]  # untouched containers are not copied
    plain = {"a": [1, "b", None, True]}
    assert canonical.ready(plain) is plain
