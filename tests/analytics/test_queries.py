"""SQL analytics on PostgreSQL and SQLite against numbers computed by hand.

The history is ``tests/analytics_fixture.py`` (five runs, two agents, two
days), stored through the runtime so the write path fills the columns the
queries read. Every expected value below is derived from that file's tables
in the comment next to it. Percentiles follow ``percentile_cont``: over the
n sorted values v[0..n-1], position p·(n-1) = i + f gives v[i] + f·(v[i+1] - v[i]).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

from adaptive.acg import StabilityAnalysisResult
from adaptive.analytics.queries import (
    QUERY_NAMES,
    AcgRow,
    Analytics,
    FanoutRow,
    ModelRow,
    RunsOverTimeRow,
    SlowRunRow,
    ToolRow,
    Window,
)
from adaptive.drain import RunAccumulator
from adaptive.errors import ConfigError
from adaptive.learners.tool_parallelism import group_id_for, observed_cohorts
from adaptive.records import CallKind, RunRecord
from adaptive.storage.sql import SchemaOutdatedError, SqlBackend
from adaptive.storage.sql.engine import create_engine
from adaptive.storage.sql.migrate import current, downgrade, head_revision, upgrade
from adaptive.storage.sql.models import (
    acg_observations,
    acg_stability,
    calls,
    runs,
    text_digest,
    text_key,
)
from adaptive.storage.sql.rows import call_rows, cohort_columns, run_row
from adaptive.storage.sql.unit import block_counts
from tests.analytics.fixture import (
    DAY_1,
    DAY_2,
    R1,
    R2,
    R3,
    R4,
    events_of,
    store_fixture,
)
from tests.conftest import PostgresServer
from tests.factories import call, run_with
from tests.storage.support import (
    insert_as_stored,
    observation,
    opened,
    with_millisecond_durations,
)

ROW_MODELS = (RunsOverTimeRow, ToolRow, ModelRow, FanoutRow, AcgRow, SlowRunRow)
SCALARS = (str, int, float, type(None), datetime, type(R1.id))


def close(value: float) -> Any:
    """A hand-computed percentile: the database's double may differ in the last bits."""
    return pytest.approx(value, rel=1e-12, abs=1e-9)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def history_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The fixture history in each dialect, stored once per module and only read after."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('analytics') / 'history.db'}"
        asyncio.run(store_fixture(url))
        yield url
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template = make_url(request.getfixturevalue("postgres_template")).database
    url = server.create_database(template=template)
    try:
        asyncio.run(store_fixture(url))
        yield url
    finally:
        server.drop_database(url)


async def query(url: str, name: str, window: Window | None = None, **options: Any) -> list[Any]:
    methods = {"runs": "runs_over_time"}
    async with Analytics.open(url) as analytics:
        rows: list[Any] = await getattr(analytics, methods.get(name, name))(
            window or Window(), **options
        )
    return rows


# -- runs over time --------------------------------------------------------------------


async def test_runs_per_day(history_url: str) -> None:
    day_1, day_2 = await query(history_url, "runs", bucket="day")
    # Day 1: R1 1000 ms, R2 2000 ms (failed), R3 500 ms; 7 + 4 + 3 calls.
    assert day_1.bucket_start == DAY_1
    assert (day_1.runs, day_1.completed_runs, day_1.failed_runs) == (3, 3, 1)
    assert day_1.p50_duration_ms == close(1000)  # [500, 1000, 2000]: position 1
    assert day_1.p95_duration_ms == close(1900)  # position 1.9: 1000 + 0.9 * 1000
    assert day_1.calls_per_run == close(14 / 3)
    # Day 2: R4 3000 ms (3 calls) and R5, still open (1 call): no duration.
    assert day_2.bucket_start == DAY_2
    assert (day_2.runs, day_2.completed_runs, day_2.failed_runs) == (2, 1, 0)
    assert day_2.p50_duration_ms == close(3000)
    assert day_2.p95_duration_ms == close(3000)
    assert day_2.calls_per_run == close(2.0)


async def test_runs_per_hour(history_url: str) -> None:
    rows = await query(history_url, "runs", bucket="hour")
    assert [row.bucket_start for row in rows] == [
        DAY_1 + timedelta(hours=10),
        DAY_1 + timedelta(hours=11),
        DAY_2 + timedelta(hours=9),
    ]
    ten, eleven, nine = rows
    # 10:00: R1 (1000 ms, 7 calls) and R2 (2000 ms, failed, 4 calls).
    assert (ten.runs, ten.completed_runs, ten.failed_runs) == (2, 2, 1)
    assert ten.p50_duration_ms == close(1500)  # position 0.5: 1000 + 0.5 * 1000
    assert ten.p95_duration_ms == close(1950)  # position 0.95: 1000 + 0.95 * 1000
    assert ten.calls_per_run == close(5.5)
    # 11:00: R3 alone, 500 ms.
    assert (eleven.runs, eleven.p50_duration_ms, eleven.p95_duration_ms) == (1, 500, 500)
    # Day 2 09:00: R4 and the open R5.
    assert (nine.runs, nine.completed_runs, nine.p95_duration_ms) == (2, 1, 3000)


# -- tools, models, fan-out --------------------------------------------------------------


async def test_tools(history_url: str) -> None:
    rows = await query(history_url, "tools")
    assert [(row.tool, row.calls) for row in rows] == [
        ("search", 6),
        ("fetch", 5),
        ("rank", 1),  # one call each: alphabetical
        ("write", 1),
    ]
    search, fetch, rank, write = rows
    # search: R1 300 and 200, R2 500, R3 100 (failed), R4 1200 and 500
    # sorted [100, 200, 300, 500, 500, 1200]; n - 1 = 5.
    assert search.p50_duration_ms == close(400)  # 2.5: 300 + 0.5 * 200
    assert search.p95_duration_ms == close(1025)  # 4.75: 500 + 0.75 * 700
    assert search.p99_duration_ms == close(1165)  # 4.95: 500 + 0.95 * 700
    assert (search.parallel_calls, search.failed_calls) == (5, 1)  # all but R3's
    assert search.parallel_share == close(5 / 6)
    # fetch: R1 200 and 100, R2 500, R3 100, R5 unfinished (counted, no duration)
    # sorted [100, 100, 200, 500]; n - 1 = 3.
    assert fetch.p50_duration_ms == close(150)  # 1.5: 100 + 0.5 * 100
    assert fetch.p95_duration_ms == close(455)  # 2.85: 200 + 0.85 * 300
    assert fetch.p99_duration_ms == close(491)  # 2.97: 200 + 0.97 * 300
    assert (fetch.parallel_calls, fetch.failed_calls) == (3, 0)  # R1's two, R2's
    assert fetch.parallel_share == close(0.6)
    # rank: R2 only, 200 ms, in the three-wide cohort; write: R1 only, alone.
    assert (rank.p50_duration_ms, rank.p99_duration_ms, rank.parallel_share) == (200, 200, 1.0)
    assert (write.p50_duration_ms, write.parallel_calls, write.parallel_share) == (100, 0, 0.0)


async def test_models(history_url: str) -> None:
    large, small = await query(history_url, "models")
    # m-large: R1 100 ms (100/20/120 tokens), R1 200 ms (200/40/240), R3 300 ms (no usage).
    assert large.model_dump() == {
        "model": "m-large",
        "llm_calls": 3,
        "prompt_tokens": 300,
        "completion_tokens": 60,
        "total_tokens": 360,
        "mean_prompt_tokens": 150.0,  # over the 2 calls that reported usage
        "mean_completion_tokens": 30.0,
        "mean_total_tokens": 180.0,
        "p50_latency_ms": close(200),  # [100, 200, 300]: position 1
        "p95_latency_ms": close(290),  # 1.9: 200 + 0.9 * 100
        "failed_calls": 0,
    }
    # m-small: R2 400 ms (50/10/60, failed), R4 600 ms (300/60/360).
    assert small.model_dump() == {
        "model": "m-small",
        "llm_calls": 2,
        "prompt_tokens": 350,
        "completion_tokens": 70,
        "total_tokens": 420,
        "mean_prompt_tokens": 175.0,
        "mean_completion_tokens": 35.0,
        "mean_total_tokens": 210.0,
        "p50_latency_ms": close(500),  # 0.5: 400 + 0.5 * 200
        "p95_latency_ms": close(590),  # 0.95: 400 + 0.95 * 200
        "failed_calls": 1,
    }


async def test_fanout(history_url: str) -> None:
    rows = await query(history_url, "fanout")
    # R1 forms fetch|search twice, R2 once; R2 then fetch|rank|search; R4 search|search.
    assert rows == [
        FanoutRow(
            group_id=group_id_for(["fetch", "search"]),
            tool_names="fetch|search",
            width=2,
            runs=2,
            occurrences=3,
        ),
        FanoutRow(
            group_id=group_id_for(["fetch", "rank", "search"]),
            tool_names="fetch|rank|search",
            width=3,
            runs=1,
            occurrences=1,
        ),
        FanoutRow(
            group_id=group_id_for(["search", "search"]),
            tool_names="search|search",
            width=2,
            runs=1,
            occurrences=1,
        ),
    ]
    assert rows[0].group_id == "fanout:sha256:98257"  # the id NeMo Relay's plan uses


async def test_fanout_groups_are_the_learned_plan_groups(history_url: str) -> None:
    async with opened(SqlBackend(history_url)) as backend:
        plans = [await backend.load_plan(agent) for agent in ("alpha", "beta")]
    learned = {group.group_id for plan in plans if plan for group in plan.parallel_groups}
    assert {row.group_id for row in await query(history_url, "fanout")} == learned


# -- ACG and slowest runs ---------------------------------------------------------------


async def test_acg(history_url: str) -> None:
    rows = await query(history_url, "acg")
    assert [row.acg_key.split("::")[:2] for row in rows] == [
        ["alpha", "model=m-large"],
        ["alpha", "model=m-small"],
        ["beta", "model=m-small"],
    ]  # the per-agent copies of the best profile ("alpha", "beta") are left out
    large, alpha_small, beta_small = rows
    # alpha/m-large: R1 asks "q1" twice, R3 "q2". Blocks system-0 (always the same:
    # stable) and user-1 (dominant content 2 of 3: 0.67, semi-stable). The stable
    # prefix needs max(ceil(0.95 * 3), 3 // 2 + 1) = 3 observations: only system-0.
    assert (large.observations, large.total_observations, large.stable_prefix_length) == (3, 3, 1)
    assert (large.stable_blocks, large.semi_stable_blocks, large.variable_blocks) == (1, 1, 0)
    # One observation each: both blocks stable, both in the prefix.
    for single in (alpha_small, beta_small):
        assert (single.observations, single.total_observations) == (1, 1)
        assert (single.stable_prefix_length, single.stable_blocks, single.variable_blocks) == (
            2,
            2,
            0,
        )
    assert large.agent_id == "alpha" and beta_small.agent_id == "beta"


async def test_acg_counts_observations_made_in_the_time_range(history_url: str) -> None:
    # Observations are dated when they were learned (this test session), not by the calls.
    learned = await query(history_url, "acg", Window(since=datetime.now(UTC) - timedelta(days=1)))
    assert [row.observations for row in learned] == [3, 1, 1]
    assert await query(history_url, "acg", Window(until=DAY_1)) == []


async def test_slowest(history_url: str) -> None:
    rows = await query(history_url, "slowest", limit=3)
    assert rows == [
        SlowRunRow(
            run_id=R4.id,
            agent_id="beta",
            started_at=R4.started,
            duration_ms=3000,
            status=None,
            calls=3,
            llm_calls=1,
            tool_calls=2,
            failed_calls=0,
            parallel_tool_calls=2,
            llm_ms=600,
            tool_ms=1700,  # 1200 + 500
            total_tokens=360,
            slowest_call="search",
            slowest_call_ms=1200,
        ),
        SlowRunRow(
            run_id=R2.id,
            agent_id="alpha",
            started_at=R2.started,
            duration_ms=2000,
            status="error",
            calls=4,
            llm_calls=1,
            tool_calls=3,
            failed_calls=1,  # the LLM call
            parallel_tool_calls=3,
            llm_ms=400,
            tool_ms=1200,  # 500 + 500 + 200
            total_tokens=60,
            slowest_call="search",  # ties with fetch at 500 ms; search comes first
            slowest_call_ms=500,
        ),
        SlowRunRow(
            run_id=R1.id,
            agent_id="alpha",
            started_at=R1.started,
            duration_ms=1000,
            status=None,
            calls=7,
            llm_calls=2,
            tool_calls=5,
            failed_calls=0,
            parallel_tool_calls=4,
            llm_ms=300,  # 100 + 200
            tool_ms=900,  # 300 + 200 + 100 + 200 + 100
            total_tokens=360,
            slowest_call="search",
            slowest_call_ms=300,
        ),
    ]
    everything = await query(history_url, "slowest", limit=10)
    assert [row.run_id for row in everything] == [R4.id, R2.id, R1.id, R3.id]  # R5 is open


# -- filtering -----------------------------------------------------------------------------


async def test_agent_filter(history_url: str) -> None:
    beta = Window(agent_id="beta")
    (day,) = await query(history_url, "runs", beta)
    assert (day.bucket_start, day.runs, day.p50_duration_ms, day.calls_per_run) == (
        DAY_2,
        1,
        3000,
        3.0,
    )
    (search,) = await query(history_url, "tools", beta)
    # R4's searches: [500, 1200]; n - 1 = 1.
    assert (search.tool, search.calls, search.parallel_share) == ("search", 2, 1.0)
    assert search.p50_duration_ms == close(850)  # 0.5: 500 + 0.5 * 700
    assert search.p95_duration_ms == close(1165)  # 0.95: 500 + 0.95 * 700
    assert search.p99_duration_ms == close(1193)  # 0.99: 500 + 0.99 * 700
    (model,) = await query(history_url, "models", beta)
    assert (model.model, model.llm_calls, model.total_tokens) == ("m-small", 1, 360)
    assert [row.tool_names for row in await query(history_url, "fanout", beta)] == ["search|search"]
    assert [row.agent_id for row in await query(history_url, "acg", beta)] == ["beta"]
    assert [row.run_id for row in await query(history_url, "slowest", beta)] == [R4.id]


async def test_unknown_agent_has_no_rows(history_url: str) -> None:
    nobody = Window(agent_id="nobody")
    for name in QUERY_NAMES:
        assert await query(history_url, name, nobody) == [], name


async def test_time_window_on_run_start(history_url: str) -> None:
    # alpha from 10:15 on day 1: R2 (2000 ms, failed, 4 calls) and R3 (500 ms, 3 calls).
    window = Window(agent_id="alpha", since=DAY_1 + timedelta(minutes=615), until=DAY_2)
    (day,) = await query(history_url, "runs", window)
    assert (day.runs, day.failed_runs) == (2, 1)
    assert day.p50_duration_ms == close(1250)  # [500, 2000], 0.5: 500 + 0.5 * 1500
    assert day.p95_duration_ms == close(1925)  # 0.95: 500 + 0.95 * 1500
    assert day.calls_per_run == close(3.5)
    # since is inclusive, until exclusive: exactly R1.
    only_r1 = Window(since=R1.started, until=R2.started)
    assert [row.runs for row in await query(history_url, "runs", only_r1)] == [1]
    assert [row.run_id for row in await query(history_url, "slowest", only_r1)] == [R1.id]


async def test_time_window_on_call_start(history_url: str) -> None:
    # Calls of R2 (starting at +0, +10, +20 ms) but not R3, which starts at `until`.
    r2_calls = Window(since=R2.started, until=R3.started)
    by_tool = {row.tool: row for row in await query(history_url, "tools", r2_calls)}
    assert {tool: row.calls for tool, row in by_tool.items()} == {
        "search": 1,
        "fetch": 1,
        "rank": 1,
    }
    assert all(row.parallel_share == 1.0 for row in by_tool.values())
    # 15 ms into R2: its search and fetch started earlier; rank (+20) and R3's calls remain.
    later = Window(since=R2.started + timedelta(milliseconds=15), until=DAY_2)
    by_tool = {row.tool: row for row in await query(history_url, "tools", later)}
    assert {tool: (row.calls, row.failed_calls) for tool, row in by_tool.items()} == {
        "search": (1, 1),  # R3's, failed
        "fetch": (1, 0),
        "rank": (1, 0),
    }
    (cohort,) = await query(history_url, "fanout", later)
    assert cohort.tool_names == "fetch|rank|search"  # formed by rank's start
    models = {row.model: row.llm_calls for row in await query(history_url, "models", later)}
    assert models == {"m-small": 1, "m-large": 1}  # R2's call at +600 ms, R3's


async def test_every_row_is_flat_and_frozen() -> None:
    for model in ROW_MODELS:
        for name, field in model.model_fields.items():
            allowed = field.annotation in SCALARS or all(
                arg in SCALARS for arg in getattr(field.annotation, "__args__", ())
            )
            assert allowed, f"{model.__name__}.{name}: {field.annotation}"
        assert model.model_config.get("frozen") is True


# -- both dialects agree -----------------------------------------------------------


async def all_results(url: str) -> list[dict[str, Any]]:
    windows = [
        Window(),
        Window(agent_id="alpha"),
        Window(since=R2.started + timedelta(milliseconds=15), until=DAY_2),
    ]
    results: list[dict[str, Any]] = []
    async with Analytics.open(url) as analytics:
        for window in windows:
            rows: list[Any] = [
                *await analytics.runs_over_time(window, "hour"),
                *await analytics.runs_over_time(window, "day"),
                *await analytics.tools(window),
                *await analytics.models(window),
                *await analytics.fanout(window),
                *await analytics.acg(window),
                *await analytics.slowest(window, limit=10),
            ]
            results.extend(row.model_dump(exclude={"updated_at"}) for row in rows)
    return results


async def test_postgres_and_sqlite_give_identical_numbers(
    sqlite_url: str, fresh_postgres_url: str
) -> None:
    await store_fixture(sqlite_url)
    await store_fixture(fresh_postgres_url)
    from_sqlite = await all_results(sqlite_url)
    assert len(from_sqlite) > 30
    assert await all_results(fresh_postgres_url) == from_sqlite  # exact, floats included


# -- what the write path records ---------------------------------------------------------


def test_accumulator_records_failures_and_leaves_success_unset() -> None:
    accumulator = RunAccumulator()
    finished = [run for event in events_of(R2) if (run := accumulator.process(event))]
    (failed,) = finished
    assert failed.status == "error"
    assert [call.status for call in failed.calls] == [None, None, None, "error"]
    wire = failed.to_wire()
    assert wire["status"] == "error" and wire["calls"][3]["status"] == "error"
    assert "status" not in wire["calls"][0]
    (succeeded,) = [run for event in events_of(R1) if (run := accumulator.process(event))]
    assert "status" not in succeeded.to_wire()  # the JSON NeMo Relay writes for it
    assert all("status" not in call for call in succeeded.to_wire()["calls"])


def test_cohort_columns_follow_the_learners_sweep() -> None:
    calls_of_run = [
        call(CallKind.TOOL, "c", 2, 20),
        call(CallKind.TOOL, "a", 0, 20),
        call(CallKind.LLM, "chat", 1, 30),  # LLM calls never join a cohort
        call(CallKind.TOOL, "b", 1, 20),
        call(CallKind.TOOL, "d", 20, 25),  # starts as the others end: alone
        call(CallKind.TOOL, "e", 30, None),  # unfinished: not swept
    ]
    # By start: a (0) runs alone; b (1) forms a|b; c (2) forms a|b|c. All three ran 3 wide.
    assert cohort_columns(calls_of_run) == {
        1: {"cohort_tools": None, "cohort_key": None, "cohort_width": None, "fanout_width": 3},
        3: {"cohort_tools": "a|b", "cohort_key": text_key("a|b"), "cohort_width": 2}
        | {"fanout_width": 3},
        0: {"cohort_tools": "a|b|c", "cohort_key": text_key("a|b|c"), "cohort_width": 3}
        | {"fanout_width": 3},
    }
    assert observed_cohorts(run_with(calls_of_run)) == [("a", "b"), ("a", "b", "c")]


async def test_stored_runs_read_back_with_their_status(history_url: str) -> None:
    async with opened(SqlBackend(history_url)) as backend:
        r1, r2 = await backend.load_runs("alpha", [R1.id, R2.id])
    assert (r1.status, r2.status) == (None, "error")
    assert r2.calls[3].status == "error"
    assert RunRecord.model_validate(r2.to_wire()) == r2


# -- opening -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memory://", "memory backend"),
        ("redis://127.0.0.1:6379/0", "redis backend"),
        ("rediss://host/0", "redis backend"),
        ("tiered://", "durable tier"),
    ],
)
async def test_open_refuses_backends_without_sql_history(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match="analytics need a SQL backend") as caught:
        async with Analytics.open(url):
            pass
    assert message in str(caught.value)


async def test_open_checks_the_schema_like_the_backend(
    empty_postgres_url: str, sqlite_url: str
) -> None:
    with pytest.raises(SchemaOutdatedError, match="adaptive db upgrade --backend"):
        async with Analytics.open(empty_postgres_url):
            pass
    assert await current(empty_postgres_url) is None
    async with Analytics.open(f"{empty_postgres_url}?auto_upgrade=true") as analytics:
        assert await analytics.tools(Window()) == []
    async with Analytics.open(sqlite_url) as analytics:  # SQLite migrates itself
        assert await analytics.runs_over_time(Window()) == []
    assert await current(sqlite_url) == head_revision()


async def test_invalid_arguments_are_config_errors(sqlite_url: str) -> None:
    with pytest.raises(ConfigError, match=r"since \(.*\) must be before until"):
        Window(since=DAY_2, until=DAY_1)
    async with Analytics.open(sqlite_url) as analytics:
        with pytest.raises(ConfigError, match="unknown bucket 'week'"):
            await analytics.runs_over_time(Window(), "week")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="limit must be at least 1"):
            await analytics.slowest(Window(), limit=0)


# -- the migration ---------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "empty_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


ADDED_BY_0002 = {
    "runs": {"end_status", "agent_key"},
    "calls": {"status", "cohort_tools", "cohort_width", "fanout_width"}
    | {"agent_key", "name_key", "model_key", "cohort_key"},
}


def columns_of_0001(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``table`` as revision 0001 had it: without the columns 0002 added."""
    legacy = with_millisecond_durations(row)
    return {name: value for name, value in legacy.items() if name not in ADDED_BY_0002[table.name]}


async def test_upgrade_fills_the_new_columns_for_history_stored_before(empty_url: str) -> None:
    """Rows written at revision 0001 get their cohorts, block counts and dates from 0002."""
    await upgrade(empty_url, "0001")
    parallel = run_with(
        [
            call(CallKind.TOOL, "search", 0, 10),
            call(CallKind.TOOL, "fetch", 5, 15),
            call(CallKind.LLM, "chat", 20, 30),
        ]
    )
    digest = text_digest("a")
    scores = [
        {"span_id": span, "classification": kind, "score": 1.0, "confidence": 1.0}
        for span, kind in [("s", "stable"), ("t", "stable"), ("u", "variable")]
    ]
    result = StabilityAnalysisResult.model_validate(
        {"scores": [{**score, "observation_count": 1} for score in scores]}
        | {"stable_prefix_length": 2, "total_observations": 1}
    )
    owned = {"key_digest": digest, "acg_key": "a", "agent_digest": digest, "agent_id": "a"}
    engine = create_engine(empty_url)
    try:
        async with engine.begin() as connection:
            old_runs = [columns_of_0001(runs, {**run_row(parallel, digest), "seq": 1})]
            await connection.execute(insert_as_stored("runs", old_runs), old_runs)
            old_calls = [columns_of_0001(calls, row) for row in call_rows(parallel, digest)]
            await connection.execute(insert_as_stored("calls", old_calls), old_calls)
            await connection.execute(
                insert(acg_observations),
                [
                    {**owned, "seq": 1, "ir_id": ir.ir_id, "payload": ir.to_wire()}
                    for ir in [observation("a")]
                ],
            )
            await connection.execute(
                insert(acg_stability),
                [
                    {**owned, "version": 1, "stable_prefix_length": 2, "total_observations": 1}
                    | {"payload": result.to_wire(), "updated_at": datetime.now(UTC)}
                ],
            )
        await upgrade(empty_url)
        async with engine.connect() as connection:
            cohorts = await connection.execute(
                select(calls.c.name, calls.c.cohort_tools, calls.c.cohort_width)
                .add_columns(calls.c.fanout_width)
                .order_by(calls.c.position)
            )
            observed_at = await connection.scalar(select(acg_observations.c.observed_at))
            blocks = await connection.execute(
                select(*(acg_stability.c[name] for name in block_counts(result)))
            )
            cohort_rows, block_row = cohorts.all(), blocks.one()
    finally:
        await engine.dispose()
    # fetch starts while search runs: it forms fetch|search (2 wide); both ran 2 wide.
    assert [tuple(row) for row in cohort_rows] == [
        ("search", None, None, 2),
        ("fetch", "fetch|search", 2, 2),
        ("chat", None, None, None),
    ]
    # The IR's created_at, 2026-11-23T21:07:11.363838517Z, to the microsecond.
    assert observed_at is not None
    assert observed_at.replace(tzinfo=UTC) == datetime(2026, 11, 23, 21, 7, 11, 363838, tzinfo=UTC)
    assert tuple(block_row) == (2, 0, 1)  # stable s and t, variable u


async def test_postgres_views_hold_the_same_figures(fresh_postgres_url: str) -> None:
    """The ``analytics_*`` views (PostgreSQL only, for BI tools), per day and agent."""
    await store_fixture(fresh_postgres_url)
    engine = create_engine(fresh_postgres_url)
    try:
        async with engine.connect() as connection:
            runs_day = (
                await connection.execute(
                    text(
                        "SELECT runs, failed_runs, p95_duration_ms FROM analytics_runs_daily "
                        "WHERE agent_id = :a AND day = :d"
                    ).bindparams(a="alpha", d=DAY_1.date())
                )
            ).one()
            fanout = (
                await connection.execute(
                    text(
                        "SELECT group_id, width, occurrences, runs FROM analytics_fanout "
                        "WHERE tool_names = 'fetch|search'"
                    )
                )
            ).one()
            search = (
                await connection.execute(
                    text(
                        "SELECT calls, parallel_calls, failed_calls, p50_duration_ms "
                        "FROM analytics_tools WHERE tool = 'search' AND agent_id = 'alpha'"
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    assert tuple(runs_day) == (3, 1, close(1900))
    assert tuple(fanout) == ("fanout:sha256:98257", 2, 3, 2)
    # alpha's searches, all on day 1: R1 300 and 200, R2 500, R3 100 (failed, alone).
    assert tuple(search) == (4, 3, 1, close(250))  # [100, 200, 300, 500], 1.5: 200 + 0.5 * 100


async def test_downgrade_drops_the_views(fresh_postgres_url: str) -> None:
    async def views() -> set[str]:
        engine = create_engine(fresh_postgres_url)
        try:
            async with engine.connect() as connection:
                names = await connection.execute(
                    text("SELECT viewname FROM pg_views WHERE viewname LIKE 'analytics%'")
                )
                return set(names.scalars())
        finally:
            await engine.dispose()

    assert await views() == {
        "analytics_runs_daily",
        "analytics_tools",
        "analytics_models",
        "analytics_fanout",
        "analytics_acg",
    }
    await downgrade(fresh_postgres_url, "0001")
    assert await views() == set()
    await upgrade(fresh_postgres_url)
    assert len(await views()) == 5
