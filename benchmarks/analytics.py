"""Analytics query latency over a large run history in PostgreSQL.

    python -m benchmarks.analytics --runs 1000000
    python -m benchmarks.analytics --runs 1000000 --keep          # keep the database
    python -m benchmarks.analytics --reuse adaptive_bench_analytics --repeat 9

Creates its own database on ``--server``, migrates it to head, bulk-loads a
synthetic history with COPY (``copy_records_to_table``), runs VACUUM ANALYZE,
then times every ``adaptive.analytics.queries`` query through the public API over
the last 7 days and over all time (and, for information, one agent's last 7
days): median, p95 and max of ``--repeat`` runs after one warm-up run. The
database is dropped at the end unless ``--keep``.

The history: several agents with different weights, 10 tools with their
own latency profiles, 4 models, runs of 1 to 3 steps where each step is one
tool or a parallel fan-out of 2 to 4 tools followed by an LLM call (≈ 7 calls
per run), token usage on every LLM call, about 2 % failed calls and 3 %
failed runs, starts spread evenly over 30 days, ACG windows of 100
observations for 8 profiles per agent. Timestamps have nanoseconds, and
durations are stored as the write path stores them (``duration_us``, by
``whole_micros_between``); cohort columns are what the write path computes
(checked against ``cohort_columns`` on a sample before the load).
Secondary indexes are dropped during the load and rebuilt from their
own definitions afterwards, and foreign-key triggers are skipped
(``session_replication_role = replica``): the usual bulk-load practice, the
resulting schema is exactly the migrated one. Generation runs in ``--jobs``
processes, each copying its own chunks, so memory stays bounded by
``--chunk`` runs per process.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hashlib
import itertools
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID, uuid4

import asyncpg
from sqlalchemy.engine import make_url

from adaptive.analytics.queries import Analytics, Window
from adaptive.records import CallKind, CallRecord
from adaptive.storage.sql.migrate import upgrade
from adaptive.storage.sql.rows import NO_COHORT, cohort_columns
from adaptive.timestamps import whole_micros_between

MS: Final = 1_000_000
DAY_NS: Final = 86_400 * 10**9
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

AGENTS: Final = (
    ("support-bot", 40),
    ("research-agent", 25),
    ("coder", 15),
    ("planner", 12),
    ("sales-assistant", 8),
)


@dataclass(frozen=True)
class Tool:
    name: str
    median_ms: float
    spread: float
    """Log-normal sigma: how heavy the latency tail is."""
    failure_rate: float


TOOLS: Final = (
    Tool("search", 180, 0.5, 0.02),
    Tool("fetch", 350, 0.7, 0.04),
    Tool("rank", 60, 0.3, 0.005),
    Tool("summarize", 900, 0.4, 0.01),
    Tool("sql_query", 120, 0.9, 0.03),
    Tool("send_email", 250, 0.3, 0.01),
    Tool("calendar", 90, 0.4, 0.01),
    Tool("code_exec", 1500, 0.8, 0.05),
    Tool("read_file", 30, 0.5, 0.005),
    Tool("write_file", 45, 0.5, 0.01),
)


@dataclass(frozen=True)
class Model:
    name: str
    first_token_ms: float
    ms_per_token: float
    weight: int


MODELS: Final = (
    Model("gpt-4o", 350, 12, 35),
    Model("gpt-4o-mini", 200, 6, 35),
    Model("claude-sonnet", 450, 14, 20),
    Model("llama-70b", 300, 20, 10),
)
RUN_FAILURE_RATE: Final = 0.03
OPEN_RUN_RATE: Final = 0.002
"""Runs still open when stored (no end): they count as runs but have no duration."""
LLM_FAILURE_RATE: Final = 0.01
ACG_PROFILES_PER_AGENT: Final = 8
ACG_WINDOW: Final = 100

RUN_COLUMNS: Final = (
    "id",
    "agent_digest",
    "agent_id",
    "started_at",
    "started_at_ns",
    "ended_at",
    "ended_at_ns",
    "duration_us",
    "call_count",
    "llm_call_count",
    "tool_call_count",
    "status",
    "end_status",
    "agent_key",
)
CALL_COLUMNS: Final = (
    "run_id",
    "position",
    "agent_digest",
    "agent_id",
    "kind",
    "name",
    "name_digest",
    "started_at",
    "started_at_ns",
    "ended_at",
    "ended_at_ns",
    "duration_us",
    "model_name",
    "model_digest",
    "prompt_tokens",
    "output_tokens",
    "total_tokens",
    "tool_call_count",
    "status",
    "cohort_tools",
    "cohort_key",
    "cohort_width",
    "fanout_width",
    "agent_key",
    "name_key",
    "model_key",
)
OWNED: Final = ("key_digest", "acg_key", "agent_digest", "agent_id")
ACG_WINDOW_COLUMNS: Final = (*OWNED, "first_seq", "next_seq", "version", "updated_at")
ACG_OBSERVATION_COLUMNS: Final = (
    "key_digest",
    "seq",
    "acg_key",
    "agent_digest",
    "agent_id",
    "ir_id",
    "payload",
    "observed_at",
)
ACG_STABILITY_COLUMNS: Final = (
    *OWNED,
    "version",
    "stable_prefix_length",
    "total_observations",
    "payload",
    "updated_at",
    "stable_blocks",
    "semi_stable_blocks",
    "variable_blocks",
)


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def at(nanos: int) -> datetime:
    return EPOCH + timedelta(microseconds=nanos // 1_000)


# -- generation ------------------------------------------------------------------


class HistoryGenerator:
    """Runs and calls as COPY records; deterministic per (seed, chunk)."""

    def __init__(self, seed: int, chunk: int, end_ns: int, days: int, total_runs: int) -> None:
        self.rng = random.Random(seed * 1_000_003 + chunk)
        self.end_ns = end_ns
        self.span_ns = days * DAY_NS
        self.total_runs = total_runs
        self._agent_weights = list(itertools.accumulate(weight for _, weight in AGENTS))
        self._model_weights = list(itertools.accumulate(model.weight for model in MODELS))
        self._digests: dict[str, bytes] = {}

    def _digest(self, text: str) -> bytes:
        found = self._digests.get(text)
        if found is None:
            found = self._digests[text] = digest(text)
        return found

    def _pick(self, cumulative: list[int]) -> int:
        return bisect.bisect_right(cumulative, self.rng.random() * cumulative[-1])

    def runs(self, first: int, count: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Runs ``first .. first + count`` of the history (in start order) and their calls."""
        run_records: list[tuple[Any, ...]] = []
        call_records: list[tuple[Any, ...]] = []
        slot_ns = self.span_ns / self.total_runs
        begin = self.end_ns - self.span_ns
        for index in range(first, first + count):
            start = begin + int((index + self.rng.random()) * slot_ns)
            run_records.append(self._run(index, start, call_records))
        return run_records, call_records

    def _key(self, text: str) -> int:
        return int.from_bytes(self._digest(text)[:8], "big", signed=True)

    def _run(self, index: int, start: int, sink: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        rng = self.rng
        agent, _ = AGENTS[self._pick(self._agent_weights)]
        agent_digest, agent_key = self._digest(agent), self._key(agent)
        run_id = UUID(int=((start // MS) << 80) | (0x7 << 76) | (index & ((1 << 76) - 1)))
        calls: list[dict[str, Any]] = []
        clock = start + int(rng.uniform(1, 20) * MS)
        clock = self._llm_call(calls, clock)
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.5:
                clock = self._fan_out(calls, clock, rng.randint(2, 4))
            else:
                clock = self._tool_call(calls, rng.choice(TOOLS), clock)
            clock = self._llm_call(calls, clock + int(rng.uniform(1, 10) * MS))
        failed_call = any(call["status"] for call in calls)
        failed = rng.random() < RUN_FAILURE_RATE or (failed_call and rng.random() < 0.5)
        end = None if rng.random() < OPEN_RUN_RATE else clock + int(rng.uniform(1, 30) * MS)
        shared = {"run_id": run_id, "agent_digest": agent_digest, "agent_id": agent}
        for position, call in enumerate(calls):
            call.update(shared, position=position, agent_key=agent_key)
            sink.append(tuple(call.get(column) for column in CALL_COLUMNS))
        llm_calls = sum(call["kind"] == "llm" for call in calls)
        run = {
            **shared,
            "id": run_id,
            "agent_key": agent_key,
            "started_at": at(start),
            "started_at_ns": start,
            "ended_at": None if end is None else at(end),
            "ended_at_ns": end,
            "duration_us": None if end is None else whole_micros_between(start, end),
            "call_count": len(calls),
            "llm_call_count": llm_calls,
            "tool_call_count": len(calls) - llm_calls,
            "status": "open" if end is None else "completed",
            "end_status": "error" if failed and end is not None else None,
        }
        return tuple(run[column] for column in RUN_COLUMNS)

    def _call(self, kind: str, name: str, start: int, end: int, failed: bool) -> dict[str, Any]:
        return {
            "kind": kind,
            "name": name,
            "name_digest": self._digest(name),
            "name_key": self._key(name),
            "started_at": at(start),
            "started_at_ns": start,
            "ended_at": at(end),
            "ended_at_ns": end,
            "duration_us": whole_micros_between(start, end),
            "status": "error" if failed else None,
        }

    def _tool_call(
        self, sink: list[dict[str, Any]], tool: Tool, start: int, min_ms: float = 5
    ) -> int:
        millis = max(min_ms, self.rng.lognormvariate(0, tool.spread) * tool.median_ms)
        end = start + int(millis * MS)
        sink.append(
            self._call("tool", tool.name, start, end, self.rng.random() < tool.failure_rate)
        )
        return end

    def _fan_out(self, sink: list[dict[str, Any]], start: int, width: int) -> int:
        """``width`` distinct tools started 1-3 ms apart, each lasting at least 30 ms.

        As the sweep sees it: member j (j >= 1) starts while members 0..j-1
        still run, so it forms the cohort of members 0..j (j + 1 wide), and
        every member ran ``width`` wide.
        """
        members = self.rng.sample(TOOLS, width)
        clock = busy_until = start
        first = len(sink)
        for member in members:
            busy_until = max(busy_until, self._tool_call(sink, member, clock, min_ms=30))
            clock += int(self.rng.uniform(1, 3) * MS)
        names = [member.name for member in members]
        for j, call in enumerate(sink[first:]):
            call["fanout_width"] = width
            if j >= 1:
                cohort = "|".join(sorted(names[: j + 1]))
                call.update(cohort_tools=cohort, cohort_key=self._key(cohort), cohort_width=j + 1)
        return busy_until

    def _llm_call(self, sink: list[dict[str, Any]], start: int) -> int:
        rng = self.rng
        model = MODELS[self._pick(self._model_weights)]
        prompt = int(rng.lognormvariate(0, 0.6) * 1200) + 50
        completion = int(rng.lognormvariate(0, 0.8) * 180) + 5
        millis = model.first_token_ms * rng.uniform(0.7, 1.6) + completion * model.ms_per_token
        end = start + int(millis * MS)
        call = self._call("llm", "chat", start, end, rng.random() < LLM_FAILURE_RATE)
        call.update(
            model_name=model.name,
            model_digest=self._digest(model.name),
            model_key=self._key(model.name),
            prompt_tokens=prompt,
            output_tokens=completion,
            total_tokens=prompt + completion,
            tool_call_count=rng.randint(0, 3),
        )
        sink.append(call)
        return end


def check_cohorts_match_the_write_path(sample: Sequence[tuple[Any, ...]]) -> None:
    """The generated cohort columns must be what ``cohort_columns`` stores for the same calls."""
    by_run: dict[UUID, list[dict[str, Any]]] = {}
    for values in sample:
        call = dict(zip(CALL_COLUMNS, values, strict=True))
        by_run.setdefault(call["run_id"], []).append(call)
    for run_calls in by_run.values():
        records = [
            CallRecord(
                kind=CallKind(call["kind"]),
                name=call["name"],
                started_at=call["started_at_ns"],
                ended_at=call["ended_at_ns"],
            )
            for call in run_calls
        ]
        stored = cohort_columns(records)
        for position, call in enumerate(run_calls):
            expected = stored.get(position, {**NO_COHORT, "fanout_width": None})
            if {name: call[name] for name in expected} != expected:
                raise AssertionError(f"generated cohorts differ from the write path: {run_calls}")


# -- loading -------------------------------------------------------------------------


def asyncpg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class LoadJob:
    url: str
    seed: int
    runs: int
    chunk: int
    end_ns: int
    days: int
    chunks: list[int]


def load_chunks(job: LoadJob) -> tuple[int, int]:
    """Worker process: generate and COPY the given chunks; returns (runs, calls) loaded."""
    return asyncio.run(_load_chunks(job))


async def _load_chunks(job: LoadJob) -> tuple[int, int]:
    connection = await asyncpg.connect(asyncpg_url(job.url))
    loaded_runs = loaded_calls = 0
    try:
        await connection.execute("SET session_replication_role = replica")
        for chunk in job.chunks:
            first = chunk * job.chunk
            count = min(job.chunk, job.runs - first)
            generator = HistoryGenerator(job.seed, chunk, job.end_ns, job.days, job.runs)
            run_records, call_records = generator.runs(first, count)
            if chunk == 0:
                checked = {run[0] for run in run_records[:1_000]}  # whole runs only
                check_cohorts_match_the_write_path(
                    [call for call in call_records if call[0] in checked]
                )
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "runs", records=run_records, columns=RUN_COLUMNS
                )
                await connection.copy_records_to_table(
                    "calls", records=call_records, columns=CALL_COLUMNS
                )
            loaded_runs += len(run_records)
            loaded_calls += len(call_records)
    finally:
        await connection.close()
    return loaded_runs, loaded_calls


BULK_KEPT: Final = ("pk_runs", "uq_runs_seq", "pk_calls")


async def secondary_indexes(connection: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await connection.fetch(
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename IN ('runs', 'calls') "
        "ORDER BY indexname"
    )
    return [
        (row["indexname"], row["indexdef"]) for row in rows if row["indexname"] not in BULK_KEPT
    ]


async def load_history(url: str, args: argparse.Namespace) -> None:
    end_ns = time.time_ns()
    admin = await asyncpg.connect(asyncpg_url(url))
    try:
        indexes = await secondary_indexes(admin)
        for name, _ in indexes:
            await admin.execute(f'DROP INDEX "{name}"')
        chunks = list(range((args.runs + args.chunk - 1) // args.chunk))
        jobs = [
            LoadJob(
                url, args.seed, args.runs, args.chunk, end_ns, args.days, chunks[j :: args.jobs]
            )
            for j in range(args.jobs)
        ]
        started = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        with context.Pool(args.jobs) as pool:
            totals = pool.map(load_chunks, jobs)
        runs_loaded = sum(runs for runs, _ in totals)
        calls_loaded = sum(calls for _, calls in totals)
        print(
            f"loaded {runs_loaded:,} runs, {calls_loaded:,} calls "
            f"in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        await load_agents_and_acg(admin, end_ns, args)
        started = time.perf_counter()
        await admin.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            await admin.execute(definition)
        print(f"rebuilt {len(indexes)} indexes in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        for table in (
            "runs",
            "calls",
            "agents",
            "acg_windows",
            "acg_observations",
            "acg_stability",
        ):
            await admin.execute(f"VACUUM (ANALYZE) {table}")
        print(f"VACUUM ANALYZE in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        await admin.close()


async def load_agents_and_acg(
    connection: asyncpg.Connection, end_ns: int, args: argparse.Namespace
) -> None:
    """Agents, and per agent 8 ACG profiles with full 100-observation windows."""
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    await connection.copy_records_to_table(
        "agents",
        records=[(digest(agent), agent, now) for agent, _ in AGENTS],
        columns=("agent_digest", "agent_id", "created_at"),
    )
    windows, observations, stability = [], [], []
    for agent, _ in AGENTS:
        for profile in range(ACG_PROFILES_PER_AGENT):
            key = f"{agent}::model={MODELS[profile % len(MODELS)].name}::profile={profile}"
            key_digest, agent_digest = digest(key), digest(agent)
            owned = (key_digest, key, agent_digest, agent)
            windows.append((*owned, 1, ACG_WINDOW + 1, ACG_WINDOW, now))
            for seq in range(1, ACG_WINDOW + 1):
                made = end_ns - int(rng.random() * args.days * DAY_NS)
                payload = json.dumps(
                    {"ir_id": str(uuid4()), "blocks": [], "created_at": now.isoformat()}
                )
                observations.append(
                    (key_digest, seq, key, agent_digest, agent, uuid4(), payload, at(made))
                )
            blocks = [rng.randint(1, 6), rng.randint(0, 4), rng.randint(0, 3)]
            result = json.dumps(
                {"scores": [], "stable_prefix_length": blocks[0], "total_observations": ACG_WINDOW}
            )
            stability.append((*owned, 1, blocks[0], ACG_WINDOW, result, now, *blocks))
    await connection.copy_records_to_table(
        "acg_windows",
        records=windows,
        columns=ACG_WINDOW_COLUMNS,
    )
    await connection.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda text: b"\x01" + text.encode(),  # binary jsonb: version byte, then text
        decoder=lambda data: data[1:].decode(),
        format="binary",
    )
    await connection.copy_records_to_table(
        "acg_observations",
        records=observations,
        columns=ACG_OBSERVATION_COLUMNS,
    )
    await connection.copy_records_to_table(
        "acg_stability",
        records=stability,
        columns=ACG_STABILITY_COLUMNS,
    )


# -- timing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    query: str
    scope: str
    rows: int
    seconds: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000

    @property
    def max_ms(self) -> float:
        return max(self.seconds) * 1000


def queries(analytics: Analytics) -> dict[str, Callable[[Window], Awaitable[list[Any]]]]:
    return {
        "runs (day)": lambda window: analytics.runs_over_time(window, "day"),
        "runs (hour)": lambda window: analytics.runs_over_time(window, "hour"),
        "tools": analytics.tools,
        "models": analytics.models,
        "fanout": analytics.fanout,
        "acg": analytics.acg,
        "slowest": lambda window: analytics.slowest(window, 10),
    }


async def time_queries(url: str, repeat: int) -> list[Timing]:
    week = datetime.now(UTC) - timedelta(days=7)
    scopes = {
        "7 days": Window(since=week),
        "all time": Window(),
        "7 days, 1 agent": Window(agent_id=AGENTS[1][0], since=week),
    }
    timings: list[Timing] = []
    async with Analytics.open(url) as analytics:
        for scope, window in scopes.items():
            for name, run in queries(analytics).items():
                rows = await run(window)  # warm-up: caches, prepared statements
                seconds = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    await run(window)
                    seconds.append(time.perf_counter() - started)
                timings.append(Timing(name, scope, len(rows), seconds))
                print(f"  {scope:<16} {name:<12} {timings[-1].median_ms:8.0f} ms", flush=True)
    return timings


TARGET_MS: Final = {"7 days": 500.0, "all time": 5000.0}


def print_table(timings: list[Timing], repeat: int) -> None:
    print(f"\n| scope | query | rows | median ms | p95 ms | max ms | target | ({repeat} runs)")
    print("|---|---|---|---|---|---|---|")
    for timing in timings:
        target = TARGET_MS.get(timing.scope)
        verdict = (
            ""
            if target is None
            else f"≤ {target:.0f} {'ok' if timing.median_ms <= target else 'MISSED'}"
        )
        print(
            f"| {timing.scope} | {timing.query} | {timing.rows} | {timing.median_ms:.0f} "
            f"| {timing.p95_ms:.0f} | {timing.max_ms:.0f} | {verdict} |"
        )


# -- main ------------------------------------------------------------------------------


async def create_database(server: str, name: str) -> str:
    admin = await asyncpg.connect(asyncpg_url(f"{server.rstrip('/')}/postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{server.rstrip('/')}/{name}"


async def drop_database(server: str, name: str) -> None:
    admin = await asyncpg.connect(asyncpg_url(f"{server.rstrip('/')}/postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def database_size(url: str) -> str:
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        size: str = await connection.fetchval(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        )
        return size
    finally:
        await connection.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="adaptive_bench_analytics")
    parser.add_argument("--reuse", metavar="DATABASE", help="time an existing (--keep) database")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per query (≥ 5)")
    parser.add_argument("--chunk", type=int, default=20_000, help="runs per COPY")
    parser.add_argument("--jobs", type=int, default=2, help="loading processes")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if args.repeat < 5:
        parser.error("--repeat must be at least 5")
    asyncio.run(run_benchmark(args))


async def run_benchmark(args: argparse.Namespace) -> None:
    name = args.reuse or args.database
    keep = args.keep or args.reuse is not None
    if args.reuse:
        url = f"{args.server.rstrip('/')}/{name}"
    else:
        url = await create_database(args.server, name)
    try:
        if not args.reuse:
            await upgrade(url)
            started = time.perf_counter()
            await load_history(url, args)
            print(f"history ready in {time.perf_counter() - started:.0f} s", flush=True)
        print(f"database {name}: {await database_size(url)}; timing queries", flush=True)
        timings = await time_queries(url, args.repeat)
        print_table(timings, args.repeat)
        print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    finally:
        if not keep:
            await drop_database(args.server, name)


if __name__ == "__main__":
    main()
