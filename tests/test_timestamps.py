import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive.timestamps import (
    TimestampError,
    format_rfc3339_ns,
    millis_between,
    parse_rfc3339_ns,
    whole_micros_between,
    whole_millis_between,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T21:14:03.515874059+00:00", 1_795_468_443_515_874_059),
        ("2026-11-23T21:14:03.515874059Z", 1_795_468_443_515_874_059),
        ("2026-11-23T22:14:03.5+01:00", 1_795_468_443_500_000_000),
        ("2026-11-23T20:14:03-01:00", 1_795_468_443_000_000_000),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_parse(text: str, expected: int) -> None:
    assert parse_rfc3339_ns(text) == expected


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (1_795_468_443_000_000_000, "2026-11-23T21:14:03Z"),
        (1_795_468_443_500_000_000, "2026-11-23T21:14:03.500Z"),
        (1_795_468_443_500_100_000, "2026-11-23T21:14:03.500100Z"),
        (1_795_468_443_515_874_059, "2026-11-23T21:14:03.515874059Z"),
    ],
)
def test_format_uses_chrono_autosi_digits(nanos: int, text: str) -> None:
    assert format_rfc3339_ns(nanos) == text


@pytest.mark.parametrize(
    "bad", ["", "2026-11-23", "2026-11-23T21:14:03", "2026-11-23T21:14:03.12a+00:00", "nope"]
)
def test_parse_rejects_garbage(bad: str) -> None:
    with pytest.raises(TimestampError):
        parse_rfc3339_ns(bad)


@given(st.integers(min_value=0, max_value=4_000_000_000 * 10**9))
def test_round_trip(nanos: int) -> None:
    assert parse_rfc3339_ns(format_rfc3339_ns(nanos)) == nanos


def test_millis_truncate_toward_zero() -> None:
    assert whole_millis_between(0, 1_999_999) == 1
    assert whole_millis_between(1_999_999, 0) == -1
    assert whole_millis_between(5, 5) == 0


def test_micros_truncate_toward_zero() -> None:
    assert whole_micros_between(0, 6_742_999) == 6_742
    assert whole_micros_between(6_742_999, 0) == -6_742
    assert whole_micros_between(0, -1_500) == -1  # not -2: toward zero, as SQL divides
    assert whole_micros_between(5, 5) == 0


@given(st.integers(-(10**15), 10**15), st.integers(-(10**15), 10**15))
def test_micros_are_the_exact_quotient_without_its_fraction(start: int, end: int) -> None:
    micros = whole_micros_between(start, end)
    assert abs(micros) * 1_000 <= abs(end - start) < (abs(micros) + 1) * 1_000
    assert micros == 0 or (micros > 0) == (end > start)


def test_millis_between_keeps_the_microseconds() -> None:
    assert millis_between(0, 6_742_999) == 6.742
    assert millis_between(0, 1_234_567_891) == 1234.567
    assert millis_between(0, -1_500) == -0.001
