"""SqlBackend against real PostgreSQL and SQLite: the protocol, exact records, errors, races."""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from adaptive.acg import PromptIR, StabilityAnalysisResult
from adaptive.config import AdaptiveConfig
from adaptive.drain import Drain, RunAccumulator
from adaptive.errors import ConfigError, StorageError, StorageUnavailableError
from adaptive.events.atof import ReadReport, read_events
from adaptive.hot_cache import HotCache
from adaptive.learners import build_learners
from adaptive.plan import ExecutionPlan, MetadataEnvelope, ParallelGroup
from adaptive.records import CallKind, RunRecord
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.export import export_state
from adaptive.storage.memory import MemoryBackend
from adaptive.storage.protocol import StateChanges, StorageBackend, UnitOfWork
from adaptive.storage.sql import SchemaOutdatedError, SchemaTooNewError, SqlBackend
from adaptive.storage.sql.dialect import ErrorKind, dialect_for
from adaptive.storage.sql.migrate import current, head_revision
from adaptive.storage.sql.models import acg_observations, runs
from adaptive.storage.sql.unit import possible_owners, window_overlap
from adaptive.storage.sql.urls import async_url, display_url
from adaptive.trie import AccumulatorState, TrieEnvelope
from tests.factories import SAMPLE_TRACE, Trace, call, load_sample_state, run_with

# -- helpers ------------------------------------------------------------------


@asynccontextmanager
async def opened(url: str, **options: Any) -> AsyncIterator[SqlBackend]:
    backend = SqlBackend(url, **options)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
async def backend(sql_url: str) -> AsyncIterator[SqlBackend]:
    async with opened(sql_url) as opened_backend:
        yield opened_backend


def plan(agent: str, *groups: str) -> ExecutionPlan:
    return ExecutionPlan(
        agent_id=agent,
        parallel_groups=[ParallelGroup(group_id=group, tool_names=[group]) for group in groups],
        metadata_template=MetadataEnvelope(run_id=uuid4(), agent_id=agent),
    )


def observation(text_content: str = "hello") -> PromptIR:
    return PromptIR.model_validate(
        {
            "ir_id": str(uuid4()),
            "blocks": [
                {
                    "span_id": "system-0",
                    "sequence_index": 0,
                    "role": "system",
                    "content": text_content,
                    "content_type": "text",
                    "provenance": "system",
                }
            ],
            "created_at": "2026-11-23T21:07:11.363838517Z",
        }
    )


def stability(observations: int) -> StabilityAnalysisResult:
    return StabilityAnalysisResult(
        scores=[], stable_prefix_length=1, total_observations=observations
    )


async def save(backend: StorageBackend, agent_id: str, changes: StateChanges) -> None:
    async def work(unit: UnitOfWork) -> None:
        unit.save(agent_id, changes)

    await backend.run_unit_of_work(work)


async def add(backend: StorageBackend, runs_to_add: Sequence[RunRecord]) -> list[RunRecord]:
    async def work(unit: UnitOfWork) -> list[RunRecord]:
        return await unit.add_runs(runs_to_add)

    return await backend.run_unit_of_work(work)


def random_text(length: int, alphabet: str = string.ascii_letters + "éß漢字🙂'\"%:_\\") -> str:
    """Incompressible text, so PostgreSQL cannot squeeze it under the index row limit."""
    return "".join(random.choices(alphabet, k=length))


# -- the protocol, as the memory backend satisfies it ----------------------------


async def test_add_runs_deduplicates_within_and_across_units(backend: SqlBackend) -> None:
    first = run_with([call(CallKind.TOOL, "t", 0, 1)])
    second = run_with([])

    async def work(unit: UnitOfWork) -> list[str]:
        fresh = await unit.add_runs([first, first, second])
        again = await unit.add_runs([second])
        assert again == []
        return [str(run.id) for run in fresh]

    assert await backend.run_unit_of_work(work) == [str(first.id), str(second.id)]
    assert await backend.run_unit_of_work(work) == []
    assert await backend.list_run_ids("a") == [first.id, second.id]
    loaded = await backend.load_runs("a", [second.id, uuid4(), first.id])
    assert [run.id for run in loaded] == [second.id, first.id]
    assert loaded[1].to_wire() == first.to_wire()


async def test_add_runs_returns_only_new_runs_in_input_order(backend: SqlBackend) -> None:
    old, new_a, new_b = run_with([]), run_with([]), run_with([], agent="b")
    await add(backend, [old])
    assert await add(backend, [new_b, old, new_a]) == [new_b, new_a]
    assert await backend.list_run_ids("a") == [old.id, new_a.id]
    assert await backend.list_run_ids("b") == [new_b.id]
    assert await backend.load_runs("b", [old.id]) == []  # another agent's run


async def test_unit_of_work_is_atomic(backend: SqlBackend) -> None:
    class LearnerExploded(RuntimeError):
        pass

    async def failing(unit: UnitOfWork) -> None:
        await unit.add_runs([run_with([call(CallKind.TOOL, "t", 0, 1)])])
        await unit.load_plan("a")
        unit.save("a", StateChanges(plans={"a": plan("a", "g")}))
        raise LearnerExploded("learner exploded")

    with pytest.raises(LearnerExploded):
        await backend.run_unit_of_work(failing)
    assert await backend.list_run_ids("a") == []
    assert await backend.load_plan("a") is None
    assert await backend.list_agents() == []


async def test_saved_state_is_visible_after_commit_only(backend: SqlBackend) -> None:
    seen_inside: list[object] = []

    async def work(unit: UnitOfWork) -> None:
        unit.save("a", StateChanges(plans={"a": plan("a")}))
        seen_inside.append(await unit.load_plan("a"))

    await backend.run_unit_of_work(work)
    assert seen_inside == [None]
    assert await backend.load_plan("a") is not None
    assert await backend.list_agents() == ["a"]


async def test_acg_keys_belong_to_their_agent_only(backend: SqlBackend) -> None:
    for agent, keys in {"a": ["a", "a::model=x"], "ab": ["ab::model=y"], "b": ["b"]}.items():
        await save(
            backend,
            agent,
            StateChanges(
                observations={key: [observation()] for key in keys},
                stability={keys[0]: stability(1)},
            ),
        )
    assert await backend.list_acg_keys("a") == ["a", "a::model=x"]
    assert await backend.list_acg_keys("ab") == ["ab::model=y"]
    assert await backend.list_acg_keys("c") == []


async def test_every_state_kind_round_trips(backend: SqlBackend) -> None:
    sample = load_sample_state()
    accumulators = AccumulatorState.from_wire(sample["accumulators:planner"])
    trie = TrieEnvelope.model_validate(sample["trie:planner"])
    execution_plan = ExecutionPlan.model_validate(sample["plan:planner"])
    window = [PromptIR.model_validate(ir) for ir in sample["acg_observations:planner"]]
    result = StabilityAnalysisResult.model_validate(sample["acg_stability:planner"])
    await save(
        backend,
        "planner",
        StateChanges(
            plans={"planner": execution_plan},
            tries={"planner": trie},
            accumulators={"planner": accumulators},
            observations={"planner": window},
            stability={"planner": result},
        ),
    )
    assert (await backend.load_plan("planner")) == execution_plan
    loaded_trie = await backend.load_trie("planner")
    assert loaded_trie is not None and loaded_trie.to_wire() == sample["trie:planner"]
    loaded = await backend.load_accumulators("planner")
    assert loaded is not None and loaded.to_wire() == sample["accumulators:planner"]
    loaded_window = await backend.load_observations("planner")
    assert [ir.to_wire() for ir in loaded_window or []] == sample["acg_observations:planner"]
    assert (await backend.load_stability("planner")) == result
    assert await backend.load_plan("nobody") is None
    assert await backend.load_observations("nobody") is None
    assert await backend.load_stability("nobody") is None


async def test_nemo_relay_sample_state_exports_unchanged(backend: SqlBackend) -> None:
    """Everything NeMo Relay 0.10.4 wrote reads back as the same JSON (runs included)."""
    sample = load_sample_state()
    index = [UUID(run_id) for run_id in sample["runs_index:planner"]]
    records = [RunRecord.model_validate(sample[f"runs:planner:{run_id}"]) for run_id in index]
    changes = StateChanges(
        plans={"planner": ExecutionPlan.model_validate(sample["plan:planner"])},
        tries={"planner": TrieEnvelope.model_validate(sample["trie:planner"])},
        accumulators={"planner": AccumulatorState.from_wire(sample["accumulators:planner"])},
    )
    for key, value in sample.items():
        if key.startswith("acg_observations:"):
            window = [PromptIR.model_validate(ir) for ir in value]
            changes.observations[key.removeprefix("acg_observations:")] = window
        elif key.startswith("acg_stability:"):
            result = StabilityAnalysisResult.model_validate(value)
            changes.stability[key.removeprefix("acg_stability:")] = result

    async def work(unit: UnitOfWork) -> None:
        assert await unit.add_runs(records) == records
        unit.save("planner", changes)

    await backend.run_unit_of_work(work)
    assert await export_state(backend) == sample


# -- same units, same export as the memory backend ------------------------------------


def sample_runs(agent: str = "planner") -> list[RunRecord]:
    accumulator = RunAccumulator(agent)
    return [
        run
        for event in read_events(SAMPLE_TRACE, ReadReport())
        if (run := accumulator.process(event)) is not None
    ]


async def learn_in_lockstep(
    backends: Sequence[StorageBackend], batches: Sequence[Sequence[RunRecord]]
) -> None:
    """Learn each batch on the first backend; give the very same units to the others."""
    learners = build_learners(AdaptiveConfig(acg={"observation_window": 12}))
    learned: dict[str, StateChanges] = {}
    for batch in batches:

        async def learn(unit: UnitOfWork, batch: Sequence[RunRecord] = batch) -> None:
            learned.clear()
            fresh = await unit.add_runs(batch)
            for agent in dict.fromkeys(run.agent_id for run in fresh):
                runs_of_agent = [run for run in fresh if run.agent_id == agent]
                changes = StateChanges()
                for learner in learners:
                    changes.update((await learner.learn(agent, runs_of_agent, unit)).changes)
                unit.save(agent, changes)
                learned[agent] = changes

        async def replay(unit: UnitOfWork, batch: Sequence[RunRecord] = batch) -> None:
            await unit.add_runs(batch)
            for agent, changes in learned.items():
                unit.save(agent, changes)

        await backends[0].run_unit_of_work(learn)
        for other in backends[1:]:
            await other.run_unit_of_work(replay)


async def test_export_equals_memory_backend_fed_the_same_units(backend: SqlBackend) -> None:
    runs_a = sample_runs("planner")
    runs_b = [run.model_copy(update={"id": uuid4(), "agent_id": "helper:'%\""}) for run in runs_a]
    mixed = [run for pair in zip(runs_a, runs_b, strict=True) for run in pair]
    batches = [mixed[start : start + 7] for start in range(0, len(mixed), 7)]
    batches.insert(3, batches[1])  # a re-ingested batch stores and learns nothing
    memory = MemoryBackend()
    await learn_in_lockstep([memory, backend], batches)
    expected = await export_state(memory)
    assert await export_state(backend) == expected
    assert await export_state(backend, "planner") == await export_state(memory, "planner")
    windows = [key for key in expected if key.startswith("acg_observations:")]
    assert windows and all(len(expected[key]) <= 12 for key in windows)


async def test_runtime_learns_the_sample_like_the_memory_backend(sql_url: str) -> None:
    async def learned(backend: StorageBackend) -> dict[str, Any]:
        runtime = AdaptiveRuntime(AdaptiveConfig(agent_id="planner"), backend=backend)
        async with runtime:
            for event in read_events(SAMPLE_TRACE, ReadReport()):
                await runtime.emit(event)
            await runtime.wait_for_idle()
            state = await export_state(runtime.backend)
        return _without_fresh_ids(state)

    expected = await learned(MemoryBackend())
    assert await learned(SqlBackend(sql_url)) == expected


def _without_fresh_ids(state: dict[str, Any]) -> dict[str, Any]:
    """Drop what each learning run mints anew: IR ids, IR and trie timestamps."""
    for key, value in state.items():
        if key.startswith("acg_observations:"):
            for ir in value:
                del ir["ir_id"], ir["created_at"]
        elif key.startswith("trie:"):
            del value["generated_at"]
    return state


# -- records round-trip exactly -------------------------------------------------------


def detailed_run(agent: str = "a") -> RunRecord:
    return RunRecord.model_validate(
        {
            "id": str(uuid4()),
            "agent_id": agent,
            "started_at": "2026-11-23T21:07:11.363838517Z",
            "ended_at": "2026-11-23T21:07:12.000000001Z",
            "from_the_future": {"nested": [1, 2.5, None, "x"]},
            "calls": [
                {
                    "kind": "llm",
                    "name": "openai",
                    "started_at": "2026-11-23T21:07:11.4Z",
                    "ended_at": "2026-11-23T21:07:11.900000100Z",
                    "metadata_snapshot": {
                        "run_id": str(uuid4()),
                        "agent_id": agent,
                        "parallel_hints": [
                            {"tool_name": "search", "group_id": "g", "explicit": False}
                        ],
                        "extensions": {"k": [1, {"v": True}]},
                        "unknown_envelope_field": 7,
                    },
                    "output_tokens": 44,
                    "prompt_tokens": 94,
                    "total_tokens": 138,
                    "model_name": "gpt-x",
                    "tool_call_count": 0,
                    "annotated_request": {"messages": [{"role": "user", "content": "hi"}]},
                    "annotated_response": {"model": "gpt-x", "big": 2**62, "f": 0.1},
                    "call_field_from_the_future": "kept",
                },
                {"kind": "tool", "name": "search", "started_at": "2026-11-23T21:07:11.5Z"},
                {
                    "kind": "tool",
                    "name": "fetch",
                    "started_at": "2026-11-23T21:07:11.5Z",
                    "ended_at": "2026-11-23T21:07:11.5Z",
                },
            ],
        }
    )


async def test_run_records_round_trip_exactly(backend: SqlBackend) -> None:
    detailed = detailed_run()
    open_run = run_with([call(CallKind.TOOL, "t", 0, None)], end_ms=None)
    bare = run_with([])
    await add(backend, [detailed, open_run, bare])
    loaded = await backend.load_runs("a", [detailed.id, open_run.id, bare.id])
    assert [run.to_wire() for run in loaded] == [
        detailed.to_wire(),
        open_run.to_wire(),
        bare.to_wire(),
    ]
    loaded_open = loaded[1].to_wire()
    assert "ended_at" not in loaded_open and "ended_at" not in loaded_open["calls"][0]
    assert set(loaded[0].to_wire()["calls"][1]) == {"kind", "name", "started_at"}
    assert loaded[0].to_wire()["calls"][0]["call_field_from_the_future"] == "kept"


async def test_run_columns_hold_what_analytics_needs(backend: SqlBackend) -> None:
    detailed = detailed_run()
    await add(backend, [detailed, run_with([], end_ms=None)])
    async with backend.engine.connect() as connection:
        row = (await connection.execute(select(runs).where(runs.c.id == detailed.id))).one()
        statuses = (await connection.execute(select(runs.c.status).order_by(runs.c.seq))).scalars()
        assert list(statuses) == ["completed", "open"]
        call_rows = (
            await connection.execute(text("SELECT name, kind, duration_ms, model_name FROM calls"))
        ).all()
    assert (row.call_count, row.llm_call_count, row.tool_call_count) == (3, 1, 2)
    assert row.duration_ms == 636  # 12.000000001 - 11.363838517 s, truncated
    assert row.started_at_ns == detailed.started_at
    assert row.started_at.microsecond == 363838
    assert sorted(map(tuple, call_rows)) == [
        ("fetch", "tool", 0, None),
        ("openai", "llm", 500, "gpt-x"),
        ("search", "tool", None, None),
    ]


async def test_awkward_and_huge_identifiers(backend: SqlBackend) -> None:
    agents = [
        'quote\'d "agent"',
        "colons::model=x:%_%\\",
        "ünïcødé 漢字 🙂",
        random_text(10_000),
    ]
    for agent in agents:
        tool = random_text(10_000) if len(agent) > 100 else f"tool {agent}"
        run = run_with([call(CallKind.TOOL, tool, 0, 5)], agent=agent)
        await add(backend, [run])
        key = f"{agent}::model={random_text(3_000)}::seed=stable-scaffold"
        window = [observation(random_text(5_000))]
        agent_plan = plan(agent, tool)
        await save(
            backend,
            agent,
            StateChanges(
                plans={agent: agent_plan},
                observations={key: window, agent: window},
                stability={key: stability(1)},
            ),
        )
        assert await backend.list_run_ids(agent) == [run.id]
        assert (await backend.load_runs(agent, [run.id]))[0].to_wire() == run.to_wire()
        assert await backend.load_plan(agent) == agent_plan
        assert await backend.list_acg_keys(agent) == sorted([agent, key])
        assert await backend.load_observations(key) == window
        assert await backend.load_stability(key) == stability(1)
    assert await backend.list_agents() == sorted(agents)
    assert await backend.list_run_ids("quote'd") == []


async def test_ten_megabyte_annotated_request_is_stored(backend: SqlBackend) -> None:
    request = {"messages": [{"role": "user", "content": random_text(10 * 1024 * 1024)}]}
    big = run_with([call(CallKind.LLM, "openai", 0, 10, annotated_request=request)])
    small = run_with([call(CallKind.TOOL, "t", 0, 1)])
    assert await add(backend, [big, small]) == [big, small]
    loaded = await backend.load_runs("a", [big.id, small.id])
    assert [run.to_wire() for run in loaded] == [big.to_wire(), small.to_wire()]


# -- errors ---------------------------------------------------------------------------


async def test_rejected_run_does_not_cost_the_rest_of_its_batch(sql_url: str) -> None:
    """PostgreSQL refuses NUL characters; the batch fails whole, the drain keeps the rest."""
    bad = run_with([call(CallKind.TOOL, "nul\x00tool", 0, 1)])
    good = [run_with([call(CallKind.TOOL, "t", 0, 1)]) for _ in range(3)]
    async with opened(sql_url) as backend:
        if backend.dialect.name == "postgresql":
            with pytest.raises(StorageError, match="rejected storing 4 run") as caught:
                await add(backend, [good[0], bad, *good[1:]])
            assert not isinstance(caught.value, StorageUnavailableError)
            assert "0x00" in str(caught.value)
            assert await backend.list_run_ids("a") == []
        trace = Trace()
        for tool in ["t", "nul\x00tool", "t", "t"]:
            root = trace.start("agent", "a", None)
            trace.end("tool", tool, trace.start("tool", tool, root), root)
            trace.end("agent", "a", root, None)
        drain = Drain(backend, [], HotCache(), RunAccumulator("a"), batch_latency=60)
        drain.start()
        for event in trace.events:
            await drain.put(event)
        await drain.close()
        stored = await backend.load_runs("a", await backend.list_run_ids("a"))
        names = [run.calls[0].name for run in stored]
        if backend.dialect.name == "postgresql":
            assert names == ["t", "t", "t"]
            assert drain.stats.runs_rejected == 1
        else:  # SQLite keeps NUL characters
            assert names == ["t", "nul\x00tool", "t", "t"]


async def test_unit_cannot_commit_after_a_swallowed_database_error(backend: SqlBackend) -> None:
    run = run_with([])

    async def work(unit: UnitOfWork) -> None:
        await unit.add_runs([run])
        with pytest.raises(StorageError, match="loading the plan"):
            await unit.load_plan("lone surrogate \ud800")
        unit.save("a", StateChanges(plans={"a": plan("a")}))

    with pytest.raises(StorageError, match="loading the plan"):
        await backend.run_unit_of_work(work)
    assert await backend.list_run_ids("a") == []


async def test_unreachable_database_is_unavailable_not_rejected() -> None:
    with pytest.raises(StorageUnavailableError, match="unavailable while opening"):
        async with opened("postgresql://postgres@127.0.0.1:1/none", connect_args={"timeout": 2}):
            pass


async def test_lost_connection_is_unavailable_then_recovers(fresh_postgres_url: str) -> None:
    async with opened(fresh_postgres_url) as backend:
        await add(backend, [run_with([])])
        killed = run_with([])

        async def work(unit: UnitOfWork) -> None:
            await unit.add_runs([killed])
            await _terminate_other_connections(fresh_postgres_url)
            await unit.load_plan("a")

        with pytest.raises(StorageUnavailableError):
            await backend.run_unit_of_work(work)
        assert await add(backend, [killed]) == [killed]  # the pool reconnects


async def _terminate_other_connections(url: str) -> None:
    admin = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(False)
    )
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()


async def test_schema_behind_head_fails_with_the_upgrade_command(
    empty_postgres_url: str,
) -> None:
    url = make_url(empty_postgres_url).set(password="s3cret").render_as_string(False)
    with pytest.raises(SchemaOutdatedError) as caught:
        async with opened(url):
            pass
    message = str(caught.value)
    assert f"needs revision {head_revision()}" in message
    assert "<none: empty database>" in message
    assert "adaptive db upgrade --backend postgresql://postgres:***@" in message
    assert "s3cret" not in message
    assert await current(empty_postgres_url) is None
    async with opened(empty_postgres_url, auto_upgrade=True) as backend:
        assert await backend.list_agents() == []
    assert await current(empty_postgres_url) == head_revision()


async def test_sqlite_upgrades_itself_on_first_open(sqlite_url: str) -> None:
    assert await current(sqlite_url) is None
    async with opened(sqlite_url) as backend:
        await add(backend, [run_with([])])
    assert await current(sqlite_url) == head_revision()
    async with opened(sqlite_url) as backend:
        assert len(await backend.list_run_ids("a")) == 1


async def test_schema_newer_than_the_code_is_refused(sql_url: str) -> None:
    async with opened(sql_url) as backend, backend.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(SchemaTooNewError, match="revision f00d, which this version"):
        async with opened(sql_url):
            pass


def test_urls_name_the_async_drivers() -> None:
    assert async_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert async_url("postgres://u@h:5433/db?ssl=require").render_as_string() == (
        "postgresql+asyncpg://u@h:5433/db?ssl=require"
    )
    assert async_url("sqlite:///rel/a.db").render_as_string() == "sqlite+aiosqlite:///rel/a.db"
    assert async_url("sqlite:////abs/a.db").database == "/abs/a.db"
    assert display_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert async_url("postgresql://h/db?auto_upgrade=true&ssl=require").query == {"ssl": "require"}
    assert SqlBackend("postgresql://h/db?auto_upgrade=yes").auto_upgrade is True
    assert SqlBackend("postgresql://h/db").auto_upgrade is False
    assert SqlBackend("sqlite:///a.db?auto_upgrade=false").auto_upgrade is False
    assert SqlBackend("sqlite:///a.db").auto_upgrade is True
    with pytest.raises(ConfigError, match="not a boolean"):
        SqlBackend("sqlite:///a.db?auto_upgrade=maybe")
    with pytest.raises(ConfigError, match="mysql"):
        async_url("mysql://u@h/db")
    with pytest.raises(ConfigError, match="not a database URL"):
        SqlBackend("::nonsense::")


# -- concurrency ------------------------------------------------------------------------


async def append_group(backend: StorageBackend, agent: str, group: str) -> None:
    """Read-modify-write of one plan: the shape of every learner."""

    async def work(unit: UnitOfWork) -> None:
        current_plan = await unit.load_plan(agent) or plan(agent)
        await asyncio.sleep(0.001)  # widen the race window
        groups = [*current_plan.parallel_groups, ParallelGroup(group_id=group, tool_names=[])]
        updated = current_plan.model_copy(update={"parallel_groups": groups})
        unit.save(agent, StateChanges(plans={agent: updated}))

    await backend.run_unit_of_work(work)


async def test_no_lost_updates_between_engines(sql_url: str) -> None:
    """Two engines are two processes as far as the database can tell."""
    async with opened(sql_url) as first, opened(sql_url) as second:
        await asyncio.gather(
            *(append_group(first, "a", f"first-{n}") for n in range(10)),
            *(append_group(second, "a", f"second-{n}") for n in range(10)),
        )
        stored = await first.load_plan("a")
    assert stored is not None
    assert sorted(group.group_id for group in stored.parallel_groups) == sorted(
        [f"first-{n}" for n in range(10)] + [f"second-{n}" for n in range(10)]
    )


async def test_deadlocked_units_are_retried(sql_url: str) -> None:
    """Units that lock two agents in opposite orders: the loser of a deadlock runs again."""
    attempts = {"xy": 0, "yx": 0}
    both_hold_one = asyncio.Barrier(2)

    def crossing(first: str, second: str) -> Any:
        async def work(unit: UnitOfWork) -> None:
            attempts[first + second] += 1
            await unit.load_plan(first)
            if attempts[first + second] == 1 and unit_is_postgres:
                await asyncio.wait_for(both_hold_one.wait(), 5)
            await unit.load_plan(second)
            unit.save(first, StateChanges(plans={first: plan(first, second)}))

        return work

    async with opened(sql_url) as left, opened(sql_url) as right:
        unit_is_postgres = left.dialect.name == "postgresql"
        await asyncio.gather(
            left.run_unit_of_work(crossing("x", "y")),
            right.run_unit_of_work(crossing("y", "x")),
        )
        assert await left.load_plan("x") is not None and await left.load_plan("y") is not None
    if unit_is_postgres:
        assert sorted(attempts.values()) == [1, 2]


async def test_write_outside_the_locks_is_detected_by_version(fresh_postgres_url: str) -> None:
    async with opened(fresh_postgres_url) as backend:
        await save(backend, "a", StateChanges(plans={"a": plan("a", "original")}))
        attempts = 0

        async def work(unit: UnitOfWork) -> None:
            nonlocal attempts
            attempts += 1
            loaded = await unit.load_plan("a")
            assert loaded is not None
            if attempts == 1:  # a writer that ignores the advisory locks
                async with backend.engine.begin() as rogue:
                    await rogue.execute(text("UPDATE learner_state SET version = version + 1"))
            unit.save("a", StateChanges(plans={"a": plan("a", f"attempt-{attempts}")}))

        await backend.run_unit_of_work(work)
        assert attempts == 2
        stored = await backend.load_plan("a")
        assert stored is not None and stored.parallel_groups[0].group_id == "attempt-2"


async def test_window_is_trimmed_and_appended_not_rewritten(backend: SqlBackend) -> None:
    window = [observation(f"o{n}") for n in range(5)]

    async def rows() -> list[tuple[int, UUID]]:
        async with backend.engine.connect() as connection:
            query = select(acg_observations.c.seq, acg_observations.c.ir_id).order_by(
                acg_observations.c.seq
            )
            return [(row.seq, row.ir_id) for row in await connection.execute(query)]

    await save(backend, "a", StateChanges(observations={"a": window}))
    first = await rows()
    shifted = [*window[2:], observation("o5"), observation("o6")]

    async def shift(unit: UnitOfWork) -> None:
        assert await unit.load_observations("a") == window
        unit.save("a", StateChanges(observations={"a": shifted}))

    await backend.run_unit_of_work(shift)
    second = await rows()
    assert second[:3] == first[2:]  # kept rows untouched
    assert [ir_id for _, ir_id in second] == [ir.ir_id for ir in shifted]
    assert await backend.load_observations("a") == shifted
    replaced = [observation("other")]
    await save(backend, "a", StateChanges(observations={"a": replaced}))  # unread: ids queried
    assert await backend.load_observations("a") == replaced
    async with backend.engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(acg_observations)) == 1


def test_window_overlap() -> None:
    a, b, c, d, e = (uuid4() for _ in range(5))
    assert window_overlap([a, b, c], [b, c, d]) == 2
    assert window_overlap([a, b, c], [a, b, c, d]) == 3
    assert window_overlap([a, b, c], [c]) == 1
    assert window_overlap([a, b, c], [d, e]) == 0
    assert window_overlap([a, b, c], []) == 0
    assert window_overlap([], [a]) == 0
    assert window_overlap([a, b, a, b], [a, b, e]) == 2


def test_possible_owners_include_agents_with_separators() -> None:
    assert possible_owners("a::b::model=x") == ["a::b::model=x", "a", "a::b"]
    assert possible_owners("plain") == ["plain"]
    assert possible_owners("::odd") == ["::odd"]


async def test_digest_is_what_postgres_computes(fresh_postgres_url: str) -> None:
    async with opened(fresh_postgres_url) as backend:
        await add(backend, [run_with([], agent="ünï 'x'")])
        async with backend.engine.connect() as connection:
            matches = await connection.scalar(
                text(
                    "SELECT count(*) FROM runs "
                    "WHERE agent_digest = sha256(convert_to(agent_id, 'UTF8'))"
                )
            )
    assert matches == 1


async def test_sqlite_creates_the_directory_of_its_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'not' / 'yet' / 'there.db'}"
    async with opened(url) as backend:
        assert await backend.list_agents() == []
    assert (tmp_path / "not" / "yet" / "there.db").is_file()


async def test_cached_state_never_hides_another_writers_update(sql_url: str) -> None:
    """Each backend keeps decoded state between units; a change elsewhere must show."""

    async def group_seen_inside_a_unit(backend: SqlBackend) -> str:
        async def work(unit: UnitOfWork) -> str:
            return first_group(await unit.load_plan("a"))

        return await backend.run_unit_of_work(work)

    async with opened(sql_url) as mine, opened(sql_url) as theirs:
        window = [observation("o1"), observation("o2")]
        await save(mine, "a", StateChanges(plans={"a": plan("a", "mine")}))
        await save(mine, "a", StateChanges(observations={"a": window}))
        assert first_group(await mine.load_plan("a")) == "mine"
        assert await mine.load_observations("a") == window

        moved = [window[1], observation("o3")]
        await save(theirs, "a", StateChanges(plans={"a": plan("a", "theirs")}))
        await save(theirs, "a", StateChanges(observations={"a": moved}))
        assert first_group(await mine.load_plan("a")) == "theirs"
        assert await group_seen_inside_a_unit(mine) == "theirs"
        assert await mine.load_observations("a") == moved

        async with theirs.engine.begin() as connection:  # recreated up to the cached version
            await connection.execute(text("DELETE FROM learner_state"))
        await save(theirs, "a", StateChanges(plans={"a": plan("a", "recreated")}))
        await save(theirs, "a", StateChanges(plans={"a": plan("a", "recreated")}))
        assert await group_seen_inside_a_unit(mine) == "recreated"


def first_group(loaded: ExecutionPlan | None) -> str:
    assert loaded is not None
    return loaded.parallel_groups[0].group_id


async def test_an_empty_window_is_not_a_missing_one(backend: SqlBackend) -> None:
    memory = MemoryBackend()
    for target in (memory, backend):
        await save(target, "a", StateChanges(observations={"a": [observation()]}))
        await save(target, "a", StateChanges(observations={"a": []}))
    assert await backend.load_observations("a") == []
    assert await backend.load_observations("a::model=never") is None
    assert await export_state(backend) == await export_state(memory)


class _DriverError(Exception):
    """Stands in for a driver exception: only the attributes the classifier reads."""

    def __init__(self, message: str, **attributes: Any) -> None:
        super().__init__(message)
        self.__dict__.update(attributes)


class InterfaceError(_DriverError):
    """Named like asyncpg's, which says "connection is closed" without an SQLSTATE."""


def _wrapped(error: Exception, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", None, error, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("dialect", "error", "kind"),
    [
        ("postgresql", _wrapped(_DriverError("x", sqlstate="40001")), ErrorKind.RETRY),
        ("postgresql", _wrapped(_DriverError("x", sqlstate="40P01")), ErrorKind.RETRY),
        ("postgresql", _wrapped(_DriverError("x", sqlstate="08006")), ErrorKind.UNAVAILABLE),
        ("postgresql", _wrapped(_DriverError("x", sqlstate="57P01")), ErrorKind.UNAVAILABLE),
        ("postgresql", _wrapped(_DriverError("x", sqlstate="22021")), ErrorKind.REJECTED),
        ("postgresql", _wrapped(_DriverError("x", sqlstate="54000")), ErrorKind.REJECTED),
        ("postgresql", _wrapped(_DriverError("x"), invalidated=True), ErrorKind.UNAVAILABLE),
        ("postgresql", _wrapped(InterfaceError("connection is closed")), ErrorKind.UNAVAILABLE),
        ("postgresql", _wrapped(InterfaceError("another operation")), ErrorKind.REJECTED),
        ("postgresql", ConnectionRefusedError(111, "refused"), ErrorKind.UNAVAILABLE),
        ("postgresql", PoolTimeoutError("QueuePool limit reached"), ErrorKind.UNAVAILABLE),
        ("sqlite", _wrapped(_DriverError("locked", sqlite_errorcode=5)), ErrorKind.RETRY),
        ("sqlite", _wrapped(_DriverError("busy", sqlite_errorcode=261)), ErrorKind.RETRY),
        ("sqlite", _wrapped(_DriverError("io", sqlite_errorcode=10)), ErrorKind.UNAVAILABLE),
        ("sqlite", _wrapped(_DriverError("check", sqlite_errorcode=275)), ErrorKind.REJECTED),
    ],
)
def test_database_errors_are_classified(dialect: str, error: Exception, kind: ErrorKind) -> None:
    assert dialect_for(dialect).classify(error) is kind
