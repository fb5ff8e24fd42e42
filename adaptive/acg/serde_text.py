"""JSON text as Rust's ``serde_json::to_string`` writes it.

A few NeMo Relay fingerprints hash plain (non-canonical) serde_json output,
so matching them needs its exact spelling: no whitespace, object keys in
byte order (``serde_json::Map`` is a ``BTreeMap``), only control characters,
quote and backslash escaped, and floats in ``ryu``'s shortest form (``1.0``,
``1e-7``, ``1.5e16``) which differs from Python's ``repr``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from adaptive.acg.errors import CanonicalizationError

_U64_MAX = 2**64 - 1
_I64_MIN = -(2**63)
_RYU_PLAIN_DIGITS = 16


def serde_json_text(value: Any) -> str:
    """Compact serde_json text of a ``serde_json::Value``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value) if _I64_MIN <= value <= _U64_MAX else ryu_text(float(value))
    if isinstance(value, float):
        return ryu_text(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return serde_struct_text(sorted(value.items()))
    if isinstance(value, list | tuple):
        return "[" + ",".join(serde_json_text(item) for item in value) + "]"
    raise CanonicalizationError(f"not a JSON value: {type(value).__name__}")


def serde_struct_text(fields: Sequence[tuple[str, Any]]) -> str:
    """A serialized Rust struct: its fields in declaration order, as given."""
    members = (f"{serde_json_text(name)}:{serde_json_text(item)}" for name, item in fields)
    return "{" + ",".join(members) + "}"


def ryu_text(value: float) -> str:
    """``ryu::Buffer::format_finite``: shortest round-trip digits, ryu's layout."""
    if not math.isfinite(value):
        raise CanonicalizationError(f"{value} is not a JSON number")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return f"{sign}0.0"
    digits, exponent = _shortest_digits(abs(value))
    return sign + _ryu_layout(digits, exponent)


def _shortest_digits(value: float) -> tuple[str, int]:
    """Digits ``d`` and exponent ``k`` with ``value == d * 10**k``, no padding zeros."""
    mantissa, _, exponent_text = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    exponent = (int(exponent_text) if exponent_text else 0) - len(fraction)
    stripped = digits.rstrip("0")
    return stripped, exponent + len(digits) - len(stripped)


def _ryu_layout(digits: str, exponent: int) -> str:
    length = len(digits)
    magnitude = length + exponent  # 10**(magnitude-1) <= value < 10**magnitude
    if exponent >= 0 and magnitude <= _RYU_PLAIN_DIGITS:
        return f"{digits}{'0' * exponent}.0"
    if 0 < magnitude <= _RYU_PLAIN_DIGITS:
        return f"{digits[:magnitude]}.{digits[magnitude:]}"
    if -5 < magnitude <= 0:
        return f"0.{'0' * -magnitude}{digits}"
    if length == 1:
        return f"{digits}e{magnitude - 1}"
    return f"{digits[0]}.{digits[1:]}e{magnitude - 1}"
