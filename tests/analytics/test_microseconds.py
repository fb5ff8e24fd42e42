"""Durations to the microsecond: percentiles and sums of ``duration_us``, in milliseconds.

Tool calls take single-digit milliseconds, so these durations differ below the
millisecond and carry nanoseconds that storage truncates away (6,742,999 ns is
6,742 µs). Runs go through the write path (``SqlBackend``); every expected
figure comes from ``tests/analytics/expected.py``, computed from the same
nanosecond durations in exact arithmetic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from adaptive.analytics.queries import Analytics, Window
from adaptive.records import CallKind, CallRecord, RunRecord
from adaptive.storage.sql import SqlBackend
from adaptive.timestamps import from_datetime
from tests.analytics.expected import TO_THE_NANOSECOND, millis, percentile_cont, whole_micros
from tests.storage.support import add, opened

START = datetime(2026, 11, 20, 10, tzinfo=UTC)
GAP_NS = 1_000_001
"""Between one call's end and the next call's start (calls do not overlap)."""
CallSpec = tuple[CallKind, str, int]
"""Kind, name, duration in nanoseconds."""
TOOL, LLM = CallKind.TOOL, CallKind.LLM
RUNS: tuple[tuple[list[CallSpec], int], ...] = (
    ([(TOOL, "search", 6_742_999), (TOOL, "search", 6_100_001), (LLM, "chat", 912_345_678)], 777),
    ([(TOOL, "search", 7_358_412), (TOOL, "rank", 1_000_999), (LLM, "chat", 1_534_001_999)], 5),
    (
        [
            (TOOL, "search", 5_001_500),
            (TOOL, "search", 12_345_678),
            (TOOL, "search", 6_742_001),
            (LLM, "chat", 450_000_500),
        ],
        999_999,
    ),
)
"""Each run's calls, in order, and how long after its last call it ends (ns)."""
FRACTIONS = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def build_run(index: int, specs: Sequence[CallSpec], tail_ns: int) -> RunRecord:
    started = from_datetime(START + timedelta(hours=index)) + 123_456_789
    clock = started + GAP_NS
    calls = []
    for kind, name, duration in specs:
        model = {"model_name": "m"} if kind is LLM else {}
        calls.append(
            CallRecord(kind=kind, name=name, started_at=clock, ended_at=clock + duration, **model)
        )
        clock += duration + GAP_NS
    return RunRecord(
        id=uuid4(), agent_id="micro", calls=calls, started_at=started, ended_at=clock + tail_ns
    )


RECORDS = [build_run(index, specs, tail) for index, (specs, tail) in enumerate(RUNS)]


def micros_of(run: RunRecord, kind: CallKind | None = None, name: str | None = None) -> list[int]:
    """The durations of ``run``'s calls (all kinds and names when ``None``) in whole µs."""
    return [
        whole_micros(call.ended_at - call.started_at)
        for call in run.calls
        if call.ended_at is not None
        and (kind is None or call.kind is kind)
        and (name is None or call.name == name)
    ]


def expected_percentiles(values: list[int], *names: str) -> dict[str, float]:
    return {name: millis(percentile_cont(values, FRACTIONS[name])) for name in names}


def near(expected: dict[str, float]) -> dict[str, object]:
    return {name: pytest.approx(value, abs=TO_THE_NANOSECOND) for name, value in expected.items()}


@pytest.fixture
async def analytics(sql_url: str) -> AsyncIterator[Analytics]:
    async with opened(SqlBackend(sql_url)) as backend:
        await add(backend, RECORDS)
    async with Analytics.open(sql_url) as opened_analytics:
        yield opened_analytics


async def test_tool_percentiles_keep_microseconds(analytics: Analytics) -> None:
    rows = {row.tool: row for row in await analytics.tools(Window())}
    for tool in ("search", "rank"):
        values = [micros for run in RECORDS for micros in micros_of(run, TOOL, tool)]
        expected = expected_percentiles(values, "p50", "p95", "p99")
        row = rows[tool]
        found = {"p50": row.p50_duration_ms, "p95": row.p95_duration_ms}
        assert found | {"p99": row.p99_duration_ms} == near(expected), tool
    # search: [5001, 6100, 6742, 6742, 7358, 12345] µs, so the median is 6.742 ms, not 6.
    assert rows["search"].p50_duration_ms == pytest.approx(6.742, abs=TO_THE_NANOSECOND)
    assert rows["rank"].p50_duration_ms == pytest.approx(1.0, abs=TO_THE_NANOSECOND)


async def test_model_and_run_percentiles_keep_microseconds(analytics: Analytics) -> None:
    (model,) = await analytics.models(Window())
    latencies = [micros for run in RECORDS for micros in micros_of(run, LLM)]
    expected = expected_percentiles(latencies, "p50", "p95")
    assert {"p50": model.p50_latency_ms, "p95": model.p95_latency_ms} == near(expected)
    (day,) = await analytics.runs_over_time(Window(), "day")
    runs = [whole_micros(run.ended_at - run.started_at) for run in RECORDS if run.ended_at]
    expected = expected_percentiles(runs, "p50", "p95")
    assert {"p50": day.p50_duration_ms, "p95": day.p95_duration_ms} == near(expected)


async def test_slowest_runs_sum_microseconds(analytics: Analytics) -> None:
    rows = await analytics.slowest(Window(), limit=3)
    by_duration = sorted(RECORDS, key=lambda run: (run.ended_at or 0) - run.started_at)
    assert [row.run_id for row in rows] == [run.id for run in reversed(by_duration)]
    for row, run in zip(rows, reversed(by_duration), strict=True):
        assert run.ended_at is not None
        slowest = max(run.calls, key=lambda call: (call.ended_at or 0) - call.started_at)
        expected = {
            "duration_ms": millis(whole_micros(run.ended_at - run.started_at)),
            "llm_ms": millis(sum(micros_of(run, LLM))),
            "tool_ms": millis(sum(micros_of(run, TOOL))),
            "slowest_call_ms": millis(max(micros_of(run))),
        }
        assert row.model_dump(include=set(expected)) == near(expected)
        assert row.slowest_call == slowest.name
