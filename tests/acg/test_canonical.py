"""RFC 8785 text, whitespace normalization and the ``sha256:`` digest form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive.acg import CanonicalizationError, canonical_json, normalize_whitespace, sha256_hex

# --- RFC 8785 -----------------------------------------------------------------


def test_keys_are_sorted_at_every_depth() -> None:
    # Rust test_rfc8785_key_ordering / test_rfc8785_nested_objects.
    assert canonical_json({"b": 2, "a": 1}) == '{"a":1,"b":2}'
    assert canonical_json({"z": {"b": 2, "a": 1}, "y": 3}) == '{"y":3,"z":{"a":1,"b":2}}'


def test_keys_sort_by_utf16_code_units() -> None:
    # RFC 8785 3.2.3: U+1F600 is the surrogate pair D83D DE00, which sorts
    # before U+FB01 (a single unit FB01) although its code point is larger.
    assert canonical_json({"\ufb01": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb01":1}'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),  # Rust test_rfc8785_number_normalization
        (1.10, "1.1"),
        (-0.0, "0"),
        (1e21, "1e+21"),  # ECMAScript switches to exponent form at 1e21
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (2**53 - 1, "9007199254740991"),
        # Beyond 2**53 NeMo Relay writes integers through f64, like JavaScript.
        (2**53 + 1, "9007199254740992"),
        (2**64, "18446744073709552000"),
    ],
)
def test_numbers_take_their_ecmascript_form(value: float, text: str) -> None:
    assert canonical_json(value) == text


def test_strings_escape_only_what_rfc8785_requires() -> None:
    assert canonical_json('a"b\\c\n\u001f/é\u2028') == '"a\\"b\\\\c\\n\\u001f/é\u2028"'


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "\ud800", {1: "non-string key"}])
def test_values_without_a_canonical_form_raise(value: object) -> None:
    with pytest.raises(CanonicalizationError):
        canonical_json(value)


# --- whitespace -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        # From the Rust canonicalize tests.
        ("  hello  ", "hello"),
        ("\thello\t", "hello"),
        ("\n hello \n", "hello"),
        ("a   b", "a b"),
        ("a\t\tb", "a b"),
        ("a  \t  b", "a b"),
        ("a\nb", "a\nb"),
        ("a \t\nb", "a\nb"),
        ("line1\nline2\nline3", "line1\nline2\nline3"),
        ("hello\u00a0\u00a0world", "hello world"),
        ("foo\u2003bar", "foo bar"),
        ("a \u00a0 \t b", "a b"),
        ("", ""),
        ("   \t  ", ""),
        # From the sample: indentation after a newline collapses to one space.
        ("The parser team:\n  alice,   bob", "The parser team:\n alice, bob"),
        # Every newline is kept, blank lines included; CR before LF is dropped.
        ("a\n\n\nb", "a\n\n\nb"),
        ("a\r\nb", "a\nb"),
        ("a \n \n b", "a\n\n b"),
        # U+001C..U+001F are not Unicode White_Space (Python's isspace says they are).
        ("a\u001cb", "a\u001cb"),
        ("\u001c", "\u001c"),
        # Other separators that are White_Space collapse like spaces.
        ("a\u2028\u3000b", "a b"),
    ],
)
def test_whitespace_normalization(raw: str, normalized: str) -> None:
    assert normalize_whitespace(raw) == normalized


# --- digests --------------------------------------------------------------------


def test_sha256_hex_is_prefixed_lowercase_hex_of_utf8() -> None:
    # Known SHA-256 test vectors.
    assert sha256_hex("hello world") == (
        "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    )
    assert sha256_hex("") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_json_values)
def test_memoized_composition_equals_the_library(value: object) -> None:
    import rfc8785

    expected = rfc8785.dumps(value).decode("utf-8")
    assert canonical_json(value) == expected
    assert canonical_json(value) == expected  # second call is served from the memo


def test_member_names_sort_by_utf16_code_units() -> None:
    # U+10000 is D800 DC00 in UTF-16, which sorts before U+FFFF; code points say otherwise.
    value = {"\uffff": 1, "\U00010000": 2}
    assert canonical_json(value) == '{"\U00010000":2,"\uffff":1}'


@given(_json_values, st.integers(min_value=0, max_value=3))
def test_unique_levels_change_nothing_but_the_memo(value: object, levels: int) -> None:
    assert canonical_json(value, unique_levels=levels) == canonical_json(value)
