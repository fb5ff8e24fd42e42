"""SqlBackend against real PostgreSQL and SQLite: the protocol, exact records, errors, races."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from adaptive.drain import Drain, RunAccumulator
from adaptive.errors import ConfigError, StorageError, StorageUnavailableError
from adaptive.hot_cache import HotCache
from adaptive.plan import ExecutionPlan, ParallelGroup
from adaptive.records import CallKind
from adaptive.storage.export import export_state
from adaptive.storage.memory import MemoryBackend
from adaptive.storage.protocol import StateChanges, StorageBackend, UnitOfWork
from adaptive.storage.sql import SchemaOutdatedError, SchemaTooNewError, SqlBackend
from adaptive.storage.sql.dialect import ErrorKind, dialect_for
from adaptive.storage.sql.migrate import current, head_revision
from adaptive.storage.sql.models import acg_observations, runs
from adaptive.storage.sql.unit import possible_owners, window_overlap
from adaptive.storage.sql.urls import async_url, display_url
from tests.factories import Trace, call, run_with
from tests.storage.support import (
    add,
    detailed_run,
    learned_from,
    observation,
    plan,
    sample_events,
    save,
    without_fresh_ids,
)
from tests.storage.support import opened as open_backend

# -- helpers ------------------------------------------------------------------


def opened(url: str, **options: Any) -> AbstractAsyncContextManager[SqlBackend]:
    return open_backend(SqlBackend(url, **options))


@pytest.fixture
async def backend(sql_url: str) -> AsyncIterator[SqlBackend]:
    async with opened(sql_url) as opened_backend:
        yield opened_backend


# -- same units, same export as the memory backend ------------------------------------


async def test_runtime_learns_the_sample_like_the_memory_backend(sql_url: str) -> None:
    expected = await learned_from(sample_events(), MemoryBackend())
    actual = await learned_from(sample_events(), SqlBackend(sql_url))
    assert without_fresh_ids(actual) == without_fresh_ids(expected)


# -- records round-trip exactly -------------------------------------------------------


async def test_run_columns_hold_what_analytics_needs(backend: SqlBackend) -> None:
    detailed = detailed_run()
    await add(backend, [detailed, run_with([], end_ms=None)])
    async with backend.engine.connect() as connection:
        row = (await connection.execute(select(runs).where(runs.c.id == detailed.id))).one()
        statuses = (await connection.execute(select(runs.c.status).order_by(runs.c.seq))).scalars()
        assert list(statuses) == ["completed", "open"]
        call_rows = (
            await connection.execute(text("SELECT name, kind, duration_us, model_name FROM calls"))
        ).all()
    assert (row.call_count, row.llm_call_count, row.tool_call_count) == (3, 1, 2)
    assert row.duration_us == 636_161  # 12.000000001 - 11.363838517 s in µs, truncated
    assert row.started_at_ns == detailed.started_at
    assert row.started_at.microsecond == 363838
    assert sorted(map(tuple, call_rows)) == [
        ("fetch", "tool", 0, None),
        ("openai", "llm", 500_000, "gpt-x"),  # 11.900000100 - 11.4 s
        ("search", "tool", None, None),
    ]


# -- errors ---------------------------------------------------------------------------


REJECTING_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER reject_calls BEFORE INSERT ON calls WHEN NEW.name = 'rejected' "
        "BEGIN SELECT RAISE(ABORT, 'call name refused by a test trigger'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION reject_calls() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.name = 'rejected' THEN RAISE EXCEPTION 'call name refused by a test trigger'; "
        "END IF; RETURN NEW; END $$",
        "CREATE TRIGGER reject_calls BEFORE INSERT ON calls "
        "FOR EACH ROW EXECUTE FUNCTION reject_calls()",
    ],
}


async def test_rejected_run_does_not_cost_the_rest_of_its_batch(sql_url: str) -> None:
    """A database that refuses one run's data fails its batch whole; the drain keeps the rest."""
    bad = run_with([call(CallKind.TOOL, "rejected", 0, 1)])
    good = [run_with([call(CallKind.TOOL, "t", 0, 1)]) for _ in range(3)]
    async with opened(sql_url) as backend:
        async with backend.engine.begin() as connection:
            for statement in REJECTING_TRIGGER[backend.dialect.name]:
                await connection.execute(text(statement))
        with pytest.raises(StorageError, match="rejected storing 4 run") as caught:
            await add(backend, [good[0], bad, *good[1:]])
        assert not isinstance(caught.value, StorageUnavailableError)
        assert "refused by a test trigger" in str(caught.value)
        assert await backend.list_run_ids("a") == []
        trace = Trace()
        for tool in ["t", "rejected", "t", "t"]:
            root = trace.start("agent", "a", None)
            trace.end("tool", tool, trace.start("tool", tool, root), root)
            trace.end("agent", "a", root, None)
        drain = Drain(backend, [], HotCache(), RunAccumulator("a"), batch_latency=60)
        drain.start()
        for event in trace.events:
            await drain.put(event)
        await drain.close()
        stored = await backend.load_runs("a", await backend.list_run_ids("a"))
        assert [run.calls[0].name for run in stored] == ["t", "t", "t"]
        assert drain.stats.runs_rejected == 1


async def test_nul_characters_are_stored_and_read_back_unchanged(sql_url: str) -> None:
    """PostgreSQL refuses NUL in text and jsonb; the backend stores it losslessly anyway."""
    request = {"messages": [{"role": "user", "content": "a\x00b \uf8ff0 \\u0000"}]}
    run = run_with(
        [call(CallKind.LLM, "ll\x00m", 0, 1, annotated_request=request)], agent="ag\x00ent"
    )
    async with opened(sql_url) as backend:
        await add(backend, [run])
        (stored,) = await backend.load_runs("ag\x00ent", [run.id])
        assert stored.to_wire() == run.to_wire()
        assert await backend.list_agents() == ["ag\x00ent"]


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
