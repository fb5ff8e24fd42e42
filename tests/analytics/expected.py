"""Expected analytics figures, computed here from raw durations, never by the code under test.

``percentile_cont`` is PostgreSQL's definition, evaluated in exact rational
arithmetic: over the n sorted values v[0..n-1], the position p·(n-1) = i + f
gives v[i] + f·(v[i+1] - v[i]). The fraction is the double the query binds
(0.95 is not exactly 95/100 in binary), taken exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

NANOS_PER_MICRO = 1_000
MICROS_PER_MILLI = 1_000

TO_THE_NANOSECOND = 1e-6
"""Tolerance on milliseconds: a thousand times finer than the microsecond durations are
kept to, so a duration rounded instead of truncated, or a percentile taken over
whole milliseconds, fails; coarser than the last bits of a double."""


def whole_micros(delta_ns: int) -> int:
    """Nanoseconds as whole microseconds, toward zero (``int`` of the exact quotient)."""
    return math.trunc(Fraction(delta_ns, NANOS_PER_MICRO))


def percentile_cont(values: Iterable[int], fraction: float) -> Fraction:
    ordered = sorted(values)
    position = Fraction(fraction) * (len(ordered) - 1)
    index = math.floor(position)
    low = ordered[index]
    high = ordered[min(index + 1, len(ordered) - 1)]
    return low + (position - index) * (high - low)


def millis(micros: Fraction | int) -> float:
    """Exact microseconds as the nearest double of milliseconds."""
    return float(Fraction(micros) / MICROS_PER_MILLI)
