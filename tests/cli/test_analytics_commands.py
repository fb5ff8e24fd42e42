"""``adaptive analytics <query>`` in every output format, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adaptive.analytics.cells import cell
from adaptive.analytics.queries import QUERY_NAMES
from adaptive.analytics.views import VIEWS
from adaptive.cli.commands.analytics import parse_time
from adaptive.errors import ConfigError
from tests.analytics.expected import TO_THE_NANOSECOND, millis, percentile_cont, whole_micros
from tests.cli_support import (
    ingest_sample,
    invoke,
    invoke_failing,
    invoke_json,
    tiered_config,
)
from tests.factories import SAMPLE_TRACE

SAMPLE_DAY = "2026-11-23"
"""The sample trace was recorded in one minute of this (UTC) day."""


@pytest.fixture
def sql_sample(sql_url: str) -> list[str]:
    backend = ["--backend", sql_url]
    ingest_sample(backend)
    return backend


def test_every_query_prints_a_table_json_and_csv(sql_sample: list[str]) -> None:
    for name in QUERY_NAMES:
        view = VIEWS[name]
        fields = list(view.row_model().model_fields)
        table = invoke("analytics", name, *sql_sample).stdout
        assert view.title in table, name

        rows = invoke_json("analytics", name, *sql_sample, "--format", "json")
        assert rows, f"{name} returned no rows for the sample"
        assert all(list(row) == fields for row in rows), name

        parsed = list(csv.DictReader(io.StringIO(invoke_csv(name, sql_sample))))
        assert len(parsed) == len(rows) and list(parsed[0]) == fields, name


def invoke_csv(name: str, backend: list[str]) -> str:
    return invoke("analytics", name, *backend, "--format", "csv").stdout


def test_the_sample_adds_up(sql_sample: list[str]) -> None:
    runs = invoke_json("analytics", "runs", *sql_sample, "--format", "json")
    assert [row["bucket_start"][:10] for row in runs] == [SAMPLE_DAY]
    assert runs[0]["runs"] == 40
    tools = {
        row["tool"]: row
        for row in invoke_json("analytics", "tools", *sql_sample, "--format", "json")
    }
    assert set(tools) == {"search", "fetch", "rank", "write_report"}
    assert tools["search"]["calls"] == 40
    models = invoke_json("analytics", "models", *sql_sample, "--format", "json")
    assert [(row["model"], row["llm_calls"]) for row in models] == [("gpt-x", 80), ("gpt-y", 19)]
    fanout = invoke_json("analytics", "fanout", *sql_sample, "--format", "json")
    plan = invoke_json("plan", "show", *sql_sample, "--format", "json")
    assert {row["group_id"] for row in fanout} == {g["group_id"] for g in plan["parallel_groups"]}


def trace_nanos(stamp: str) -> int:
    """An ATOF timestamp (``2026-11-23T21:14:03.515874059+00:00``) as epoch nanoseconds."""
    clock, _, rest = stamp.partition(".")
    digits = rest.rstrip("Zz").split("+")[0].split("-")[0]
    offset = rest[len(digits) :].replace("Z", "+00:00").replace("z", "+00:00")
    seconds = int(datetime.fromisoformat(clock + offset).timestamp())
    return seconds * 10**9 + int(digits.ljust(9, "0"))


def tool_micros_from_the_trace(path: Path) -> dict[str, list[int]]:
    """Each tool's call durations in whole µs, from the trace's own start and end events."""
    starts: dict[str, int] = {}
    durations: dict[str, list[int]] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event.get("kind") != "scope" or event.get("category") != "tool":
            continue
        at = trace_nanos(event["timestamp"])
        if event["scope_category"] == "start":
            starts[event["uuid"]] = at
        else:
            micros = whole_micros(at - starts.pop(event["uuid"]))
            durations.setdefault(event["name"], []).append(micros)
    assert not starts, "every tool call in the sample ends"
    return durations


def test_tool_percentiles_of_the_sample_are_its_own_to_the_microsecond(
    sql_sample: list[str],
) -> None:
    """The sample's tools take 2-9 ms: in whole ms, write_report's 2.425 ms median read 2."""
    durations = tool_micros_from_the_trace(SAMPLE_TRACE)
    rows = invoke_json("analytics", "tools", *sql_sample, "--format", "json")
    assert {row["tool"]: row["calls"] for row in rows} == {
        tool: len(values) for tool, values in durations.items()
    }
    fields = {"p50_duration_ms": 0.5, "p95_duration_ms": 0.95, "p99_duration_ms": 0.99}
    for row in rows:
        values = durations[row["tool"]]
        for field, fraction in fields.items():
            expected = millis(percentile_cont(values, fraction))
            assert row[field] == pytest.approx(expected, abs=TO_THE_NANOSECOND), row["tool"]
    assert any(row["p50_duration_ms"] % 1 for row in rows)  # medians between whole ms

    as_csv = list(csv.DictReader(io.StringIO(invoke_csv("tools", sql_sample))))
    assert [float(row["p50_duration_ms"]) for row in as_csv] == [
        row["p50_duration_ms"] for row in rows
    ]  # CSV keeps every digit JSON has
    table = invoke("analytics", "tools", *sql_sample).stdout
    for row in rows:
        assert cell(row["p50_duration_ms"]) in table  # e.g. 5.873: to the microsecond
        assert len(cell(row["p50_duration_ms"]).split(".")[1]) == 3


def test_runs_by_the_hour_and_the_slowest_few(sql_sample: list[str]) -> None:
    hourly = invoke_json("analytics", "runs", *sql_sample, "--bucket", "hour", "--format", "json")
    assert len(hourly) == 1 and hourly[0]["bucket_start"].startswith(f"{SAMPLE_DAY}T21:00:00")
    slowest = invoke_json("analytics", "slowest", *sql_sample, "--limit", "3", "--format", "json")
    durations = [row["duration_ms"] for row in slowest]
    assert len(durations) == 3 and durations == sorted(durations, reverse=True)


def test_time_and_agent_filters(sql_sample: list[str]) -> None:
    def runs(*options: str) -> int:
        rows = invoke_json("analytics", "runs", *sql_sample, *options, "--format", "json")
        return sum(int(row["runs"]) for row in rows)

    assert runs("--since", SAMPLE_DAY) == 40
    assert runs("--since", f"{SAMPLE_DAY}T21:15:00Z") == 0
    assert runs("--until", SAMPLE_DAY) == 0
    assert runs("--since", "2026-11-22", "--until", "2026-11-24") == 40
    assert runs("--agent-id", "planner") == 40
    assert runs("--agent-id", "someone-else") == 0


def test_a_bad_time_or_an_empty_window_is_refused(sql_sample: list[str]) -> None:
    result = invoke_failing("analytics", "runs", *sql_sample, "--since", "yesterday")
    assert "--since 'yesterday' is neither ISO 8601" in result.stderr
    result = invoke_failing(
        "analytics", "tools", *sql_sample, "--since", "2026-11-24", "--until", "2026-11-23"
    )
    assert "window is empty" in result.stderr


def test_relative_times_count_back_from_now() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_time("90m", "--since", now) == now - timedelta(minutes=90)
    assert parse_time("24h", "--since", now) == now - timedelta(hours=24)
    assert parse_time("7d", "--since", now) == now - timedelta(days=7)
    assert parse_time("2w", "--since", now) == now - timedelta(weeks=2)
    assert parse_time("2026-11-23", "--since") == datetime(2026, 11, 23, tzinfo=UTC)
    assert parse_time("2026-11-23T10:00:00+02:00", "--since") == datetime(
        2026, 11, 23, 8, 0, tzinfo=UTC
    )
    assert parse_time(None, "--since") is None
    with pytest.raises(ConfigError, match="neither ISO 8601"):
        parse_time("7 days", "--since")


def test_a_tiered_backend_is_analysed_in_its_durable_tier(
    fresh_postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    config = ["--config", str(tiered_config(tmp_path, fresh_postgres_url, redis_url))]
    ingest_sample(config)
    rows = invoke_json("analytics", "runs", *config, "--format", "json")
    assert rows[0]["runs"] == 40


def test_backends_without_sql_history_are_refused(redis_url: str) -> None:
    for url in ("memory://", redis_url):
        result = invoke_failing("analytics", "tools", "--backend", url)
        assert "sqlite:///" in result.stderr and "postgresql://" in result.stderr


def test_the_backend_comes_from_the_environment(sqlite_url: str) -> None:
    ingest_sample(["--backend", sqlite_url])
    result = invoke("analytics", "models", "--format", "json", env={"ADAPTIVE_BACKEND": sqlite_url})
    assert json.loads(result.stdout)[0]["model"] == "gpt-x"
