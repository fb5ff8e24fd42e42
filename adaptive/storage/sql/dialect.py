"""Every difference between PostgreSQL and SQLite the SQL backend cares about.

The rest of the package is written once, against SQLAlchemy Core; whatever
depends on the database lives here: the payload column type (JSONB or JSON),
the ``INSERT … ON CONFLICT`` construct, how a unit of work serializes with
other writers, how run ``seq`` numbers are assigned, and which driver errors
mean "retry", "unreachable" or "rejected".

Locking:

* PostgreSQL runs each unit in READ COMMITTED and takes a transaction-scoped
  advisory lock per agent (``pg_advisory_xact_lock`` on a 64-bit hash of the
  agent id) before it reads that agent's state. The agents of a batch are
  locked together, in sorted key order, so the drain's units never wait on
  each other in a cycle; a unit that locks more later (a learner reading
  another agent) can still deadlock, which PostgreSQL detects and the
  backend answers by running the unit again. Advisory locks, not row
  locks, because the rows may not exist yet: the first run of an agent must
  lock the state it is about to create. Hash collisions only make two
  agents share a lock.
* SQLite has one writer at a time: a unit starts with ``BEGIN IMMEDIATE``,
  taking the database write lock before its first read, so no further
  locking is needed; reads use a deferred ``BEGIN`` and, in WAL mode, never
  wait for the writer.
"""

from __future__ import annotations

import enum
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import JSON, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeEngine

from adaptive.errors import StorageError

POSTGRESQL: Final = "postgresql"
SQLITE: Final = "sqlite"

Payload: TypeEngine[Any] = JSON(none_as_null=True).with_variant(
    JSONB(none_as_null=True), POSTGRESQL
)
"""JSON documents: JSONB on PostgreSQL (queryable, indexable), JSON text on SQLite.

``none_as_null`` makes ``None`` an SQL ``NULL`` rather than JSON ``null``, so
an omitted optional field reads back as omitted.
"""

WRITE_OPTION: Final = "adaptive_write"
"""Execution option marking a connection whose transactions will write."""

MIGRATION_LOCK_KEY: Final = 0x6164_6170_7469_7665  # "adaptive"
"""Advisory lock that serializes concurrent schema upgrades on PostgreSQL."""

SQLITE_BUSY_TIMEOUT_S: Final = 30.0


class ErrorKind(enum.Enum):
    """What the backend should do about a database error."""

    RETRY = "retry"
    """Lost a race (serialization failure, deadlock, busy database): run the unit again."""
    UNAVAILABLE = "unavailable"
    """The database cannot be reached; the caller keeps its data and tries later."""
    FULL = "full"
    """The database's disk or quota is full; like unavailable, but the operator must act."""
    REJECTED = "rejected"
    """The database refused the statement or the data; retrying will not help."""


_PG_RETRY_STATES = frozenset({"40001", "40P01", "55P03"})
_PG_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "53400"})
_PG_FULL_STATES = frozenset({"53100", "53200"})
"""disk_full and out_of_memory (class 53, insufficient resources); quotas surface as 53100."""
_SQLITE_RETRY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_SQLITE_UNAVAILABLE_CODES = frozenset({sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR})
_SQLITE_FULL_CODES = frozenset({sqlite3.SQLITE_FULL})


@dataclass(frozen=True)
class SqlDialect:
    """The dialect-specific half of the backend, chosen by ``dialect_for``."""

    name: str
    auto_upgrade_default: bool
    """Whether opening a backend brings the schema to head by itself."""
    numbers_runs_itself: bool
    """Whether ``runs.seq`` must be assigned by the backend (no identity column)."""

    @property
    def snapshot_read_options(self) -> dict[str, Any]:
        """Execution options under which every query of a read transaction sees one snapshot.

        PostgreSQL's default READ COMMITTED takes a snapshot per statement;
        SQLite's deferred transaction already reads one snapshot (WAL).
        """
        return {"isolation_level": "REPEATABLE READ"} if self.name == POSTGRESQL else {}

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """An ``INSERT`` that supports ``on_conflict_do_nothing``/``…_do_update``."""
        if self.name == POSTGRESQL:
            return postgresql.insert(table)
        return sqlite.insert(table)

    def insert_ignoring_duplicates(self, table: Table, key: Iterable[str]) -> Insert:
        return self.insert(table).on_conflict_do_nothing(index_elements=list(key))

    def upsert(self, table: Table, key: Iterable[str], replace: Iterable[str]) -> Insert:
        """Insert, or overwrite ``replace`` columns and bump ``version`` on conflict."""
        statement = self.insert(table)
        updates: dict[str, Any] = {name: statement.excluded[name] for name in replace}
        updates["version"] = table.c.version + 1
        return statement.on_conflict_do_update(index_elements=list(key), set_=updates)

    def prepare(self, url: URL) -> None:
        """SQLite: create the database file's directory, so a configured path needs no set-up.

        A path that cannot hold a database (under a regular file, in a
        directory that cannot be created or written) is a ``StorageError``
        naming the path and the problem.
        """
        in_memory = url.database in (None, "", ":memory:")
        if self.name == SQLITE and not in_memory and not url.query.get("uri"):
            _prepare_sqlite_path(Path(str(url.database)).expanduser())

    def install(self, engine: AsyncEngine) -> None:
        """Per-connection settings; on SQLite, take transaction control from sqlite3."""
        if self.name == SQLITE:
            event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
            event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)

    async def lock_agents(self, connection: AsyncConnection, lock_keys: Iterable[int]) -> None:
        """Block until this transaction holds every agent's lock (released at its end)."""
        if self.name != POSTGRESQL:
            return  # BEGIN IMMEDIATE already holds the database write lock
        ordered = sorted(set(lock_keys))
        if ordered:
            await connection.execute(
                text(
                    "SELECT pg_advisory_xact_lock(k) "
                    "FROM unnest(CAST(:keys AS bigint[])) WITH ORDINALITY AS t(k, n) ORDER BY n"
                ),
                {"keys": ordered},
            )

    def lock_for_migrations(self, connection: Connection) -> None:
        """Serialize concurrent upgrades of one database (SQLite: the write lock does)."""
        if self.name == POSTGRESQL:
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )

    @asynccontextmanager
    async def migrating(self, connection: AsyncConnection) -> AsyncIterator[None]:
        """Prepare a connection, outside any transaction, for running schema revisions.

        SQLite alters a table by rebuilding it (Alembic's batch mode); with
        foreign keys enforced, dropping the old ``runs`` table would cascade
        and delete every call. So enforcement is off while revisions run, and
        the result is checked before the connection is used again.
        """
        if self.name != SQLITE:
            yield
            return
        raw: Any = (await connection.get_raw_connection()).driver_connection
        await raw.execute("PRAGMA foreign_keys = OFF")
        try:
            yield
            violations = await (await raw.execute("PRAGMA foreign_key_check")).fetchall()
            if violations:
                raise StorageError(
                    f"schema migration left {len(violations)} row(s) violating foreign keys, "
                    f"first: {tuple(violations[0])}"
                )
        finally:
            await raw.execute("PRAGMA foreign_keys = ON")

    def classify(self, error: BaseException) -> ErrorKind:
        """Map a driver error (possibly wrapped by SQLAlchemy) to what to do about it."""
        if isinstance(error, PoolTimeoutError | DisconnectionError):
            return ErrorKind.UNAVAILABLE
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return ErrorKind.UNAVAILABLE
        cause = error.orig if isinstance(error, DBAPIError) else error
        if self.name == POSTGRESQL:
            return _classify_postgres(cause)
        return _classify_sqlite(cause)


def _classify_postgres(cause: BaseException | None) -> ErrorKind:
    state = getattr(cause, "sqlstate", None)
    if isinstance(state, str):
        if state in _PG_RETRY_STATES:
            return ErrorKind.RETRY
        if state in _PG_FULL_STATES:
            return ErrorKind.FULL
        if state.startswith("08") or state in _PG_UNAVAILABLE_STATES:
            return ErrorKind.UNAVAILABLE
        return ErrorKind.REJECTED
    if _is_connection_failure(cause):
        return ErrorKind.UNAVAILABLE
    return ErrorKind.REJECTED


def _classify_sqlite(cause: BaseException | None) -> ErrorKind:
    code = getattr(cause, "sqlite_errorcode", None)
    if isinstance(code, int):
        primary = code & 0xFF  # extended result codes carry the primary code in the low byte
        if primary in _SQLITE_RETRY_CODES:
            return ErrorKind.RETRY
        if primary in _SQLITE_FULL_CODES:
            return ErrorKind.FULL
        if primary in _SQLITE_UNAVAILABLE_CODES:
            return ErrorKind.UNAVAILABLE
    if _is_connection_failure(cause):
        return ErrorKind.UNAVAILABLE
    return ErrorKind.REJECTED


def _is_connection_failure(cause: BaseException | None) -> bool:
    """OS-level and driver-level signs that the connection, not the data, failed."""
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError | TimeoutError):
            return True
        if type(cause).__name__ == "InterfaceError" and "closed" in str(cause):
            return True  # asyncpg: "connection is closed"
        cause = getattr(cause, "orig", None) or cause.__cause__
    return False


def _prepare_sqlite_path(path: Path) -> None:
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StorageError(
            f"cannot create the SQLite database {path}: a path above it is a file, not a directory"
        ) from None
    except OSError as error:
        raise StorageError(
            f"cannot create the directory {directory} for the SQLite database {path}: "
            f"{error.strerror or error}"
        ) from None
    if path.is_dir():
        raise StorageError(f"cannot use {path} as a SQLite database: it is a directory")
    target = path if path.exists() else directory
    if not os.access(target, os.W_OK):
        raise StorageError(
            f"cannot write the SQLite database {path}: {target} is not writable by this user"
        )


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the writer; foreign keys are off by default in SQLite."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    writes = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


_DIALECTS: Mapping[str, SqlDialect] = {
    POSTGRESQL: SqlDialect(POSTGRESQL, auto_upgrade_default=False, numbers_runs_itself=False),
    SQLITE: SqlDialect(SQLITE, auto_upgrade_default=True, numbers_runs_itself=True),
}


def dialect_for(name: str) -> SqlDialect:
    """The ``SqlDialect`` for an SQLAlchemy dialect name."""
    try:
        return _DIALECTS[name]
    except KeyError:
        raise ValueError(f"no SQL backend support for the {name!r} dialect") from None
