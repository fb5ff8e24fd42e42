"""The Alembic revisions on both dialects: up, down, no drift, data survives, CLI works."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from adaptive.analytics.queries import Analytics, Window
from adaptive.errors import StorageError
from adaptive.records import CallKind, CallRecord, RunRecord
from adaptive.storage.export import export_state
from adaptive.storage.protocol import StateChanges, UnitOfWork
from adaptive.storage.sql import SqlBackend, revision
from adaptive.storage.sql.engine import create_engine
from adaptive.storage.sql.migrate import (
    MIGRATIONS_ENV,
    current,
    downgrade,
    head_revision,
    history,
    migrations_dir,
    rewritten_tables,
    upgrade,
)
from adaptive.storage.sql.models import Base, text_digest
from adaptive.storage.sql.revision import HEAD_REVISION, SCHEMA_REVISIONS, database_revision
from adaptive.storage.sql.rows import call_rows, run_row
from tests.factories import T0, call, run_with
from tests.storage.support import add, insert_as_stored, truncated, with_millisecond_durations

ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "agents",
    "runs",
    "calls",
    "learner_state",
    "acg_windows",
    "acg_observations",
    "acg_stability",
}

TEST_ONLY_REVISION = '''"""Test only: rebuild runs with an extra column, add a table.

Revision ID: 9001
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def rebuild() -> str:
    """SQLite: copy the table (the risky path); PostgreSQL: plain ALTER TABLE."""
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def upgrade() -> None:
    with op.batch_alter_table("runs", recreate=rebuild()) as batch:
        batch.add_column(sa.Column("test_only_note", sa.Text(), nullable=True))
    op.create_table("test_only", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("test_only")
    with op.batch_alter_table("runs", recreate=rebuild()) as batch:
        batch.drop_column("test_only_note")
'''


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest) -> str:
    """A database with no schema, on each dialect in turn."""
    fixture = "sqlite_url" if request.param == "sqlite" else "empty_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    async with connected(url) as connection:
        names: list[str] = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names) - {"alembic_version"}


async def drift(url: str) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the models."""

    def compare(sync: Connection) -> list[Any]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with connected(url) as connection:
        differences: list[Any] = await connection.run_sync(compare)
    return differences


async def test_empty_to_head_to_base_to_head(empty_url: str) -> None:
    assert await current(empty_url) is None
    await upgrade(empty_url)
    assert await current(empty_url) == head_revision()
    assert await table_names(empty_url) == TABLES
    await downgrade(empty_url, "base")
    assert await current(empty_url) is None
    assert await table_names(empty_url) == set()
    await upgrade(empty_url, "head")
    assert await table_names(empty_url) == TABLES


async def test_models_and_migrations_describe_the_same_schema(empty_url: str) -> None:
    await upgrade(empty_url)
    assert await drift(empty_url) == []


async def test_concurrent_upgrades_run_the_revisions_once(empty_url: str) -> None:
    await asyncio.gather(*(upgrade(empty_url) for _ in range(3)))
    assert await current(empty_url) == head_revision()
    assert await drift(empty_url) == []


async def stored_state(url: str) -> dict[str, Any]:
    backend = SqlBackend(url)
    await backend.open()
    try:
        return await export_state(backend)
    finally:
        await backend.close()


async def test_data_survives_a_later_revision_and_its_downgrade(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await upgrade(empty_url)
    backend = SqlBackend(empty_url)
    await backend.open()
    runs = [
        run_with([call(CallKind.TOOL, "search", 0, 5), call(CallKind.LLM, "llm", 1, 9)]),
        run_with([], end_ms=None),
    ]

    async def work(unit: UnitOfWork) -> None:
        await unit.add_runs(runs)
        unit.save("a", StateChanges())

    await backend.run_unit_of_work(work)
    await backend.close()
    before = await stored_state(empty_url)
    assert len(before["runs_index:a"]) == 2

    versions = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), versions, ignore=shutil.ignore_patterns("__pycache__"))
    (versions / "versions" / "9001_test_only.py").write_text(
        TEST_ONLY_REVISION.format(head=head_revision())
    )
    monkeypatch.setenv(MIGRATIONS_ENV, str(versions))
    # a version of adaptive whose newest revision is 9001
    monkeypatch.setattr(revision, "SCHEMA_REVISIONS", (*SCHEMA_REVISIONS, "9001"))
    monkeypatch.setattr(revision, "HEAD_REVISION", "9001")
    await upgrade(empty_url)
    assert await current(empty_url) == "9001"
    assert "test_only" in await table_names(empty_url)
    assert await stored_state(empty_url) == before
    await downgrade(empty_url, "-1")
    monkeypatch.undo()

    assert await current(empty_url) == head_revision()
    assert await stored_state(empty_url) == before
    assert await drift(empty_url) == []


def alembic(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "alembic", *args]
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_alembic_command_line_from_the_repository_root(empty_url: str) -> None:
    by_env = await asyncio.to_thread(
        alembic, "upgrade", "head", env={"ADAPTIVE_BACKEND": empty_url}
    )
    assert by_env.returncode == 0, by_env.stderr
    assert await current(empty_url) == head_revision()
    by_argument = await asyncio.to_thread(alembic, "-x", f"url={empty_url}", "downgrade", "base")
    assert by_argument.returncode == 0, by_argument.stderr
    assert await current(empty_url) is None
    offline = await asyncio.to_thread(alembic, "-x", f"url={empty_url}", "upgrade", "head", "--sql")
    assert offline.returncode == 0, offline.stderr
    assert "CREATE TABLE runs" in offline.stdout


def test_history_lists_the_revisions_oldest_first() -> None:
    revisions = history()
    assert revisions[0].revision == "0001" and revisions[0].down_revision is None
    assert revisions[-1].revision == head_revision()
    assert "Initial schema" in revisions[0].message


def test_missing_migrations_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MIGRATIONS_ENV, str(tmp_path))
    with pytest.raises(StorageError, match=f"schema migrations not found in {tmp_path}"):
        head_revision()


def test_the_revisions_known_without_alembic_are_those_in_migrations() -> None:
    assert [revision.revision for revision in history()] == list(SCHEMA_REVISIONS)
    assert head_revision() == HEAD_REVISION


async def test_the_revision_read_without_alembic_is_alembics(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        assert await database_revision(engine) is None
        await upgrade(empty_url, "0001")
        assert await database_revision(engine) == "0001" == await current(empty_url)
        await upgrade(empty_url)
        assert await database_revision(engine) == HEAD_REVISION == await current(empty_url)
    finally:
        await engine.dispose()


def sqlite_schema(path: Path) -> dict[str, Any]:
    """Every table's columns, indexes and foreign keys, and every view, as SQLite reports them."""
    import sqlite3

    with closing(sqlite3.connect(path)) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        schema: dict[str, Any] = {
            "views": sorted(
                name
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'view'"
                )
            )
        }
        for table in tables:
            indexes = connection.execute(f"PRAGMA index_list('{table}')").fetchall()
            schema[table] = {
                "columns": connection.execute(f"PRAGMA table_info('{table}')").fetchall(),
                "foreign_keys": connection.execute(
                    f"PRAGMA foreign_key_list('{table}')"
                ).fetchall(),
                "indexes": sorted(
                    (
                        name,
                        unique,
                        partial,
                        connection.execute(f"PRAGMA index_info('{name}')").fetchall(),
                        connection.execute(
                            "SELECT sql FROM sqlite_master WHERE name = ?", (name,)
                        ).fetchone(),
                    )
                    for _, name, unique, _, partial in indexes
                ),
            }
    return schema


async def test_a_new_sqlite_file_gets_the_schema_the_revisions_build(tmp_path: Path) -> None:
    migrated, created = tmp_path / "migrated.db", tmp_path / "created.db"
    await upgrade(f"sqlite:///{migrated}")
    backend = SqlBackend(f"sqlite:///{created}")
    await backend.open()
    await backend.close()
    assert sqlite_schema(created) == sqlite_schema(migrated)
    assert await current(f"sqlite:///{created}") == HEAD_REVISION
    assert await drift(f"sqlite:///{created}") == []


# -- 0003: durations in microseconds -------------------------------------------------

START = T0 + 123_456_789
"""Run start, off every microsecond boundary, so that truncation shows."""
DURATION_CASES = {
    "search": 6_742_999,  # 6742 µs (not 6743), 6 ms
    "search ": 6_100_001,  # 6100 µs
    "fetch": -1_500,  # ended before it started (clock skew): -1 µs, 0 ms, toward zero
    "fetch ": -2_500_000,  # -2500 µs, -2 ms
    "chat": 912_345_678,  # 912345 µs, 912 ms
}
"""Call durations in nanoseconds by name (trailing space: a second call of the tool)."""


def odd_durations_run() -> RunRecord:
    calls = [
        CallRecord(
            kind=CallKind.LLM if name == "chat" else CallKind.TOOL,
            name=name.strip(),
            started_at=START + 1_000 * position + 7,
            ended_at=START + 1_000 * position + 7 + duration,
        )
        for position, (name, duration) in enumerate(DURATION_CASES.items())
    ]
    calls.append(CallRecord(kind=CallKind.TOOL, name="rank", started_at=START + 9_999))
    return RunRecord(
        id=uuid4(), agent_id="a", calls=calls, started_at=START, ended_at=START + 1_234_567_891
    )


async def rows_of(url: str, table: str, order: str) -> list[dict[str, Any]]:
    async with connected(url) as connection:
        result = await connection.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
        return [dict(row) for row in result.mappings()]


async def store_as_0002(url: str, runs: list[RunRecord]) -> None:
    """``runs`` written as the write path of revision 0002 wrote them (``duration_ms``)."""
    digest = text_digest("a")
    run_rows = [
        with_millisecond_durations({**run_row(run, digest), "seq": seq})
        for seq, run in enumerate(runs, 1)
    ]
    rows_of_calls = [
        with_millisecond_durations(row) for run in runs for row in call_rows(run, digest)
    ]
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert_as_stored("runs", run_rows), run_rows)
            await connection.execute(insert_as_stored("calls", rows_of_calls), rows_of_calls)
    finally:
        await engine.dispose()


async def schema_of(url: str) -> Any:
    """Columns, indexes and views, as the database itself describes them."""
    if url.startswith("sqlite"):
        return sqlite_schema(Path(make_url(url).database or ""))
    queries = {
        "columns": "SELECT table_name, ordinal_position, column_name, data_type, is_nullable "
        "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
        "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "ORDER BY 1",
        "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1",
    }
    async with connected(url) as connection:
        return {
            name: [tuple(row) for row in await connection.execute(text(query))]
            for name, query in queries.items()
        }


async def test_0003_converts_stored_durations_to_microseconds_and_back(empty_url: str) -> None:
    await upgrade(empty_url, "0002")
    schema_at_0002 = await schema_of(empty_url)
    finished, still_open = odd_durations_run(), run_with([], end_ms=None)
    await store_as_0002(empty_url, [finished, still_open])
    runs_at_0002 = await rows_of(empty_url, "runs", "seq")
    calls_at_0002 = await rows_of(empty_url, "calls", "run_id, position")
    assert [row["duration_ms"] for row in runs_at_0002] == [1234, None]

    await upgrade(empty_url)
    runs_at_head = await rows_of(empty_url, "runs", "seq")
    calls_at_head = await rows_of(empty_url, "calls", "run_id, position")
    # 1,234,567,891 ns: 1,234,567 µs. Calls: toward zero, whatever the sign.
    assert [row["duration_us"] for row in runs_at_head] == [1_234_567, None]
    by_position = {row["position"]: row["duration_us"] for row in calls_at_head}
    assert by_position == {0: 6742, 1: 6100, 2: -1, 3: -2500, 4: 912_345, 5: None}
    for row in [*runs_at_head, *calls_at_head]:
        ended = row["ended_at_ns"]
        expected = None if ended is None else truncated(ended - row["started_at_ns"], 1_000)
        assert row["duration_us"] == expected
    # exactly what the write path stores for the same records now
    written = [run_row(finished, text_digest("a")), run_row(still_open, text_digest("a"))]
    assert [row["duration_us"] for row in runs_at_head] == [row["duration_us"] for row in written]
    assert list(by_position.values()) == [
        row["duration_us"] for row in call_rows(finished, text_digest("a"))
    ]
    assert await drift(empty_url) == []

    await downgrade(empty_url, "0002")
    assert await rows_of(empty_url, "runs", "seq") == runs_at_0002
    assert await rows_of(empty_url, "calls", "run_id, position") == calls_at_0002
    assert await schema_of(empty_url) == schema_at_0002

    await upgrade(empty_url)
    assert await rows_of(empty_url, "calls", "run_id, position") == calls_at_head
    assert await drift(empty_url) == []


def test_0003_names_the_tables_it_rewrites_to_vacuum_after_it() -> None:
    assert rewritten_tables("0002", "0003") == ["calls", "runs"]
    assert rewritten_tables("0003", "0002") == ["calls", "runs"]  # the downgrade rewrites too
    assert rewritten_tables(None, "0003") == ["calls", "runs"]
    assert rewritten_tables(None, "0002") == rewritten_tables("0003", "0003") == []


async def vacuumed(url: str) -> dict[str, tuple[bool, bool]]:
    """Per table: whether it was ever vacuumed, and analysed, by hand (not autovacuum)."""
    query = text(
        "SELECT relname, last_vacuum IS NOT NULL, last_analyze IS NOT NULL "
        "FROM pg_stat_user_tables WHERE relname IN ('runs', 'calls')"
    )
    async with connected(url) as connection:
        return {
            name: (vacuum, analyze) for name, vacuum, analyze in await connection.execute(query)
        }


async def test_0003_views_report_milliseconds_with_decimals(empty_postgres_url: str) -> None:
    await upgrade(empty_postgres_url, "0002")
    await store_as_0002(empty_postgres_url, [odd_durations_run()])
    assert await vacuumed(empty_postgres_url) == {"runs": (False, False), "calls": (False, False)}
    await upgrade(empty_postgres_url)
    # rewritten, so vacuumed and analysed once committed: index-only scans work again
    assert await vacuumed(empty_postgres_url) == {"runs": (True, True), "calls": (True, True)}
    query = text("SELECT tool, p50_duration_ms, p99_duration_ms FROM analytics_tools ORDER BY tool")
    async with connected(empty_postgres_url) as connection:
        tools = [tuple(row) for row in await connection.execute(query)]
        (run_p50,) = (
            await connection.execute(text("SELECT p50_duration_ms FROM analytics_runs_daily"))
        ).one()
        (llm_p50,) = (
            await connection.execute(text("SELECT p50_latency_ms FROM analytics_models"))
        ).one()
    # fetch [-2500, -1] µs; search [6100, 6742] µs; rank unfinished.
    assert tools == [
        ("fetch", -1250.5 / 1000, (-2500 + 0.99 * 2499) / 1000),
        ("rank", None, None),
        ("search", 6.421, (6100 + 0.99 * 642) / 1000),
    ]
    assert (run_p50, llm_p50) == (1234.567, 912.345)
    # the very doubles the Python queries return for the same (single) day
    async with Analytics.open(empty_postgres_url) as analytics:
        rows = await analytics.tools(Window())
    assert sorted((row.tool, row.p50_duration_ms, row.p99_duration_ms) for row in rows) == tools


async def constraints_of(url: str) -> Any:
    """Primary and foreign keys of ``runs`` and ``calls`` (SQLite: in ``sqlite_schema``)."""
    if url.startswith("sqlite"):
        return sqlite_schema(Path(make_url(url).database or ""))
    query = (
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid IN ('runs'::regclass, 'calls'::regclass) ORDER BY 1, 2"
    )
    async with connected(url) as connection:
        return [tuple(row) for row in await connection.execute(text(query))]


async def test_0004_identifies_runs_by_agent_and_id_and_back(empty_url: str) -> None:
    await upgrade(empty_url, "0003")
    before = (await schema_of(empty_url), await constraints_of(empty_url))
    runs_written = [run_with([call(CallKind.TOOL, "search", 0, 5)]), run_with([], end_ms=None)]
    digest = text_digest("a")
    run_rows = [run_row(run, digest) for run in runs_written]
    if empty_url.startswith("sqlite"):  # PostgreSQL numbers runs itself (an identity column)
        run_rows = [{**row, "seq": seq} for seq, row in enumerate(run_rows, 1)]
    rows_of_calls = [row for run in runs_written for row in call_rows(run, digest)]
    async with connected(empty_url) as connection:
        await connection.execute(insert_as_stored("runs", run_rows), run_rows)
        await connection.execute(insert_as_stored("calls", rows_of_calls), rows_of_calls)
        await connection.commit()
    stored_runs = await rows_of(empty_url, "runs", "seq")
    stored_calls = await rows_of(empty_url, "calls", "run_id, position")

    await upgrade(empty_url)
    assert await rows_of(empty_url, "runs", "seq") == stored_runs
    assert await rows_of(empty_url, "calls", "run_id, position") == stored_calls
    assert await drift(empty_url) == []
    backend = SqlBackend(empty_url)
    await backend.open()
    try:
        copy = runs_written[0].model_copy(update={"agent_id": "b"}, deep=True)
        assert await add(backend, [copy]) == [copy]
    finally:
        await backend.close()

    with pytest.raises(StorageError, match="1 run id\\(s\\) are stored for more than one agent"):
        await downgrade(empty_url, "0003")
    async with connected(empty_url) as connection:
        await connection.execute(text("DELETE FROM runs WHERE agent_id = 'b'"))
        await connection.commit()
    await downgrade(empty_url, "0003")
    assert (await schema_of(empty_url), await constraints_of(empty_url)) == before
    assert await rows_of(empty_url, "runs", "seq") == stored_runs
    assert await rows_of(empty_url, "calls", "run_id, position") == stored_calls
    await upgrade(empty_url)
    assert await drift(empty_url) == []
