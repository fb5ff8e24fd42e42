"""Nanosecond UTC timestamps that round-trip NeMo Relay's JSON exactly.

Python's ``datetime`` stops at microseconds, but NeMo Relay writes
nanoseconds and derives millisecond differences from them. Timestamps are
therefore kept as integer nanoseconds since the Unix epoch and rendered the
way chrono's serde form renders a ``DateTime<Utc>``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_NANOS_PER_SECOND = 1_000_000_000
MICROS_PER_MILLI = 1_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TimestampError(ValueError):
    """A timestamp that is not RFC 3339 with an explicit offset."""


def parse_rfc3339_ns(text: str) -> int:
    """Parse an RFC 3339 timestamp into integer nanoseconds since the epoch."""
    try:
        date_part, time_part = text[:10], text[11:]
        if text[10] not in "Tt ":
            raise TimestampError(f"not an RFC 3339 timestamp: {text!r}")
        if time_part.endswith(("Z", "z")):
            clock, offset_seconds = time_part[:-1], 0
        else:
            sign_at = max(time_part.rfind("+"), time_part.rfind("-"))
            if sign_at < 0:
                raise TimestampError(f"timestamp has no UTC offset: {text!r}")
            clock, offset = time_part[:sign_at], time_part[sign_at:]
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            offset_seconds = (hours * 3600 + minutes * 60) * (1 if offset[0] == "+" else -1)
        whole, _, fraction = clock.partition(".")
        if fraction and (not fraction.isdigit() or len(fraction) > 9):
            raise TimestampError(f"bad fractional seconds in {text!r}")
        seconds = _epoch_seconds(f"{date_part}T{whole}") - offset_seconds
    except (IndexError, ValueError) as error:
        if isinstance(error, TimestampError):
            raise
        raise TimestampError(f"not an RFC 3339 timestamp: {text!r}") from error
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return seconds * _NANOS_PER_SECOND + nanos


@lru_cache(maxsize=4096)
def _epoch_seconds(date_and_clock: str) -> int:
    """Whole seconds of a UTC wall-clock time; events arrive many per second."""
    base = datetime.fromisoformat(f"{date_and_clock}+00:00")
    return (base - _EPOCH) // timedelta(seconds=1)


@lru_cache(maxsize=4096)
def _wall_clock(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def format_rfc3339_ns(nanos: int, *, zulu: bool = True) -> str:
    """Render like chrono: ``Z`` suffix and 0, 3, 6 or 9 fractional digits."""
    seconds, fraction = divmod(nanos, _NANOS_PER_SECOND)
    stamp = _wall_clock(seconds)
    if fraction == 0:
        digits = ""
    elif fraction % 1_000_000 == 0:
        digits = f".{fraction // 1_000_000:03d}"
    elif fraction % 1_000 == 0:
        digits = f".{fraction // 1_000:06d}"
    else:
        digits = f".{fraction:09d}"
    return f"{stamp}{digits}{'Z' if zulu else '+00:00'}"


def now_ns() -> int:
    """The current time as integer nanoseconds since the epoch."""
    import time

    return time.time_ns()


def from_datetime(value: datetime) -> int:
    """Convert an aware ``datetime`` (naive means UTC) to nanoseconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _NANOS_PER_SECOND + delta.microseconds * 1_000


def to_datetime(nanos: int) -> datetime:
    """Convert nanoseconds to an aware ``datetime`` (microsecond precision)."""
    return _EPOCH + timedelta(microseconds=nanos // 1_000)


def whole_millis_between(start_ns: int, end_ns: int) -> int:
    """Milliseconds from start to end, truncated toward zero like chrono's ``num_milliseconds``."""
    return _truncated(end_ns - start_ns, 1_000_000)


def whole_micros_between(start_ns: int, end_ns: int) -> int:
    """Microseconds from start to end, truncated toward zero like chrono's ``num_microseconds``.

    What storage keeps as a duration (``duration_us``): tool calls last a few
    milliseconds, where dropping the fraction of a millisecond puts a 6.742 ms
    call at 6. Toward zero, as SQL's integer division on both databases, so
    revision 0003's conversion of stored rows gives exactly what the write
    path gives.
    """
    return _truncated(end_ns - start_ns, 1_000)


def millis_from_micros(micros: float) -> float:
    """A duration in whole (or interpolated) microseconds as milliseconds with decimals.

    One correctly rounded division, the same one the PostgreSQL views do, so a
    value reads the same however it was obtained.
    """
    return micros / MICROS_PER_MILLI


def millis_between(start_ns: int, end_ns: int) -> float:
    """Milliseconds from start to end to the microsecond, as storage and analytics give them."""
    return millis_from_micros(whole_micros_between(start_ns, end_ns))


def _truncated(delta: int, unit: int) -> int:
    whole = abs(delta) // unit
    return whole if delta >= 0 else -whole


def _coerce(value: Any) -> int:
    if isinstance(value, bool):
        raise TimestampError("a boolean is not a timestamp")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return parse_rfc3339_ns(value)
    if isinstance(value, datetime):
        return from_datetime(value)
    raise TimestampError(f"expected an RFC 3339 string, got {type(value).__name__}")


Timestamp = Annotated[
    int,
    BeforeValidator(_coerce),
    PlainSerializer(format_rfc3339_ns, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""Integer nanoseconds since the epoch; RFC 3339 on the wire."""
