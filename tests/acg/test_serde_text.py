"""serde_json's compact text: what some NeMo Relay fingerprints hash."""

from __future__ import annotations

import pytest

from adaptive.acg.errors import CanonicalizationError
from adaptive.acg.serde_text import ryu_text, serde_json_text, serde_struct_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # ryu's layout (pretty::format64): plain digits while the decimal
        # exponent kk = digits + exponent lies in (-5, 16], exponent form outside.
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (0.1, "0.1"),
        (100.0, "100.0"),
        (123456.789, "123456.789"),
        (1e15, "1000000000000000.0"),  # kk = 16
        (1e16, "1e16"),  # kk = 17; Python's repr says 1e+16
        (1.5e16, "1.5e16"),
        (1e-5, "0.00001"),  # kk = -4; Python's repr says 1e-05
        (1.25e-5, "0.0000125"),
        (1e-6, "1e-6"),  # kk = -5
        (-2.5e-7, "-2.5e-7"),
        (1.7976931348623157e308, "1.7976931348623157e308"),
    ],
)
def test_floats_are_written_like_ryu(value: float, text: str) -> None:
    assert ryu_text(value) == text


def test_non_finite_floats_are_not_json() -> None:
    with pytest.raises(CanonicalizationError):
        ryu_text(float("nan"))


def test_values_sort_keys_and_keep_integers() -> None:
    value = {"b": [1, 2.0, None, True], "a": {"z": "é\n", "y": False}, "c": 2**64}
    # Integers beyond u64 are parsed as f64 by serde_json.
    expected = '{"a":{"y":false,"z":"é\\n"},"b":[1,2.0,null,true],"c":1.8446744073709552e19}'
    assert serde_json_text(value) == expected


def test_structs_keep_declaration_order() -> None:
    assert serde_struct_text([("type", "audio"), ("audio", {"b": 1, "a": 2})]) == (
        '{"type":"audio","audio":{"a":2,"b":1}}'
    )
