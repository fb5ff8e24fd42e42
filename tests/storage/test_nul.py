"""NUL in PostgreSQL text and JSON: escaped losslessly, read back unchanged (pure logic)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adaptive.storage.sql.engine import json_dumps, json_loads
from adaptive.storage.sql.nul import (
    MARK,
    escape_json_text,
    escape_text,
    json_codec,
    unescape_text,
)

TRICKY = st.text(alphabet=st.sampled_from(["\x00", MARK, "0", "\\", "u", "a", '"', "é"]))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY,
    lambda children: st.lists(children) | st.dictionaries(TRICKY, children),
    max_leaves=20,
)


@given(TRICKY)
def test_text_round_trips_and_holds_no_nul(value: str) -> None:
    escaped = escape_text(value)
    assert "\x00" not in escaped
    assert unescape_text(escaped) == value


@given(JSON)
def test_json_round_trips_and_holds_no_nul_escape(document: object) -> None:
    dumps, loads = json_codec(json_dumps, json_loads)
    text = dumps(document)
    assert "\\u0000" not in text.replace("\\\\", "")
    assert loads(text) == document


def test_text_without_nul_or_mark_is_untouched() -> None:
    assert escape_text("planner") == "planner"
    assert escape_json_text('{"a":"b\\\\u0000"}') == '{"a":"b\\\\u0000"}'  # an escaped backslash
