"""Programmatic Alembic: upgrade, downgrade, inspect (``adaptive db`` and upgrades on open).

Imported only when a migration runs or ``adaptive db`` asks; opening a
backend checks the revision through ``revision.py`` without Alembic.

The revisions live in the top-level ``migrations/`` directory, the same one
``alembic upgrade head`` uses from the repository root. Every function here
runs Alembic on a connection it opens itself (``config.attributes
["connection"]``), so ``migrations/env.py`` never starts a second event loop
inside ours.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from adaptive.errors import StorageError
from adaptive.storage.sql.dialect import POSTGRESQL, WRITE_OPTION
from adaptive.storage.sql.engine import create_engine, engine_dialect
from adaptive.storage.sql.errors import translated_errors
from adaptive.storage.sql.urls import display_url

MIGRATIONS_ENV: Final = "ADAPTIVE_MIGRATIONS_DIR"
"""Environment variable naming another migrations directory (tests, packaged installs)."""

PACKAGED_MIGRATIONS: Final = "adaptive_migrations"
"""The top-level package name ``migrations/`` is installed under from a wheel."""

REWRITES_ATTRIBUTE: Final = "REWRITES"
"""A revision module's tuple of the tables it rewrites whole, up or down (0003: runs, calls)."""

T = TypeVar("T")


@dataclass(frozen=True)
class Revision:
    """One schema revision, as ``adaptive db history`` lists it."""

    revision: str
    down_revision: str | None
    message: str


def migrations_dir() -> Path:
    """Where the revisions are.

    ``$ADAPTIVE_MIGRATIONS_DIR`` if set; else the ``migrations/`` directory of
    the checkout this package runs from (editable installs, the repository);
    else the installed ``adaptive_migrations`` package (the same directory, as
    a wheel ships it: see ``[tool.setuptools]`` in pyproject.toml).
    """
    configured = os.environ.get(MIGRATIONS_ENV)
    candidates = [Path(configured)] if configured else _default_locations()
    for directory in candidates:
        if (directory / "env.py").is_file():
            return directory
    raise StorageError(
        f"schema migrations not found in {', '.join(map(str, candidates))}; set "
        f"{MIGRATIONS_ENV} to the directory holding adaptive's migrations/env.py"
    )


def _default_locations() -> list[Path]:
    locations = [Path(__file__).resolve().parents[3] / "migrations"]
    spec = importlib.util.find_spec(PACKAGED_MIGRATIONS)
    if spec is not None and spec.submodule_search_locations:
        locations.extend(Path(path) for path in spec.submodule_search_locations)
    return locations


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the migrations directory, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    if head is None:
        raise StorageError(f"no schema revisions found in {migrations_dir()}")
    return head


def history() -> list[Revision]:
    """Every revision, oldest first."""
    scripts = list(script_directory().walk_revisions())
    return [
        Revision(
            revision=script.revision,
            down_revision=_single(script.down_revision),
            message=(script.doc or "").strip(),
        )
        for script in reversed(scripts)
    ]


async def current(url: str | URL) -> str | None:
    """The revision the database is at (``None``: never migrated)."""
    return await _with_engine(url, current_revision)


async def upgrade(url: str | URL, revision: str = "head") -> None:
    await _with_engine(url, lambda engine: upgrade_engine(engine, revision))


async def downgrade(url: str | URL, revision: str) -> None:
    async def run(engine: AsyncEngine) -> None:
        await _migrate(engine, lambda config: command.downgrade(config, revision))

    await _with_engine(url, run)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    await _migrate(engine, lambda config: command.upgrade(config, revision))


async def _migrate(engine: AsyncEngine, run: Callable[[Config], None]) -> None:
    """Run an Alembic command in one transaction that holds the database's migration lock.

    Alembic keeps the running migration's context in module globals, so two
    commands interleaved on one event loop would run in each other's
    context; they take turns here (other processes wait on the database lock).
    Tables that the revisions run rewrote are vacuumed once they are committed.
    """
    dialect = engine_dialect(engine)

    def locked(sync: Connection) -> tuple[str | None, str | None]:
        dialect.lock_for_migrations(sync)  # before reading where we start; env.py takes it again
        before = MigrationContext.configure(sync).get_current_revision()
        try:
            run(alembic_config(sync))
        except RuntimeError as refusal:  # a revision that refuses to run says why, in one line
            raise StorageError(f"migration refused: {refusal}") from refusal
        return before, MigrationContext.configure(sync).get_current_revision()

    async with _in_process_lock():
        async with engine.connect() as connection, dialect.migrating(connection):
            writer = await connection.execution_options(**{WRITE_OPTION: True})
            async with writer.begin():
                before, after = await writer.run_sync(locked)
        await _vacuum(engine, rewritten_tables(before, after))


def rewritten_tables(before: str | None, after: str | None) -> list[str]:
    """The tables the revisions between ``before`` and ``after`` (either way) rewrote."""
    scripts = list(reversed(list(script_directory().walk_revisions())))  # oldest first
    order = [None, *(script.revision for script in scripts)]
    low, high = sorted((order.index(before), order.index(after)))
    tables = (getattr(script.module, REWRITES_ATTRIBUTE, ()) for script in scripts[low:high])
    return sorted({table for rewritten in tables for table in rewritten})


async def _vacuum(engine: AsyncEngine, tables: list[str]) -> None:
    """PostgreSQL: ``VACUUM (ANALYZE)`` tables a revision rewrote.

    A rewritten table has no visibility map and no statistics, and its rewrite
    leaves no dead rows for autovacuum to notice, so the analytics' index-only
    scans would read the table for every entry (ten times slower, measured)
    until enough new rows arrived. ``VACUUM`` cannot run inside the migration's
    transaction, hence here, after it committed.
    """
    if engine.dialect.name != POSTGRESQL or not tables:
        return
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            exists = await autocommit.scalar(text("SELECT to_regclass(:t)"), {"t": table})
            if exists is not None:  # not when a downgrade went on to drop it
                await autocommit.execute(text(f"VACUUM (ANALYZE) {table}"))


_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _in_process_lock() -> asyncio.Lock:
    """One lock per event loop (an ``asyncio.Lock`` cannot be shared between loops)."""
    return _LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock())


async def _with_engine(url: str | URL, use: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with translated_errors(engine_dialect(engine), f"migrating {display_url(url)}"):
            return await use(engine)
    finally:
        await engine.dispose()


def _single(down_revision: str | tuple[str, ...] | list[str] | None) -> str | None:
    if down_revision is None or isinstance(down_revision, str):
        return down_revision
    return ",".join(down_revision)
