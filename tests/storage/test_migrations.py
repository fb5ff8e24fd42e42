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

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from adaptive.errors import StorageError
from adaptive.records import CallKind
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
    upgrade,
)
from adaptive.storage.sql.models import Base
from adaptive.storage.sql.revision import HEAD_REVISION, SCHEMA_REVISIONS, database_revision
from tests.factories import call, run_with

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
