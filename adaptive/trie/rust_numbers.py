"""Rust's float-to-integer conversions, which Python's built-ins do not match.

``f64::round`` rounds halves away from zero (Python's ``round`` rounds them
to even) and ``as u32``/``as i32`` saturate instead of overflowing; learned
hints must come out as the integers NeMo Relay would compute.
"""

from __future__ import annotations

import math

U32_MAX = 2**32 - 1
I32_MIN = -(2**31)
I32_MAX = 2**31 - 1


def round_half_away_from_zero(value: float) -> float:
    """``f64::round``: nearest integer, halves away from zero; NaN and infinities unchanged."""
    if not math.isfinite(value):
        return value
    whole = float(math.trunc(value))
    # ``value - whole`` is exact, so the half-way test cannot be disturbed by rounding.
    if abs(value - whole) >= 0.5:
        whole += math.copysign(1.0, value)
    return whole


def _saturate(value: float, lowest: int, highest: int) -> int:
    if math.isnan(value):
        return 0
    if value <= lowest:
        return lowest
    if value >= highest:
        return highest
    return math.trunc(value)


def as_u32(value: float) -> int:
    """``value as u32``: truncate toward zero, saturate at 0 and ``u32::MAX``, NaN to 0."""
    return _saturate(value, 0, U32_MAX)


def as_i64(value: float) -> int:
    """``value as i64``: truncate toward zero, saturate at the i64 range, NaN to 0."""
    return _saturate(value, -(2**63), 2**63 - 1)
