"""Which schema revision this version of adaptive needs, known without importing Alembic.

Every open checks the database's revision; importing Alembic for that alone
cost the command line about half a second. The revisions are listed here
(``tests/storage/test_migrations.py`` checks the list against
``migrations/``), the database's own is read with one query, and Alembic is
imported only when a migration actually runs.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from adaptive.storage.sql.dialect import SQLITE, WRITE_OPTION
from adaptive.storage.sql.errors import SchemaOutdatedError, SchemaTooNewError
from adaptive.storage.sql.urls import display_url

SCHEMA_REVISIONS: Final = ("0001", "0002", "0003", "0004")
"""Every revision in ``migrations/versions``, oldest first."""
HEAD_REVISION: Final = SCHEMA_REVISIONS[-1]
VERSION_TABLE: Final = "alembic_version"


async def database_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (``None``: never migrated), as Alembic records it."""
    async with engine.connect() as connection:
        exists = await connection.run_sync(lambda sync: inspect(sync).has_table(VERSION_TABLE))
        if not exists:
            return None
        rows = (await connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))).all()
    return str(rows[0][0]) if rows else None


async def ensure_schema(engine: AsyncEngine, url: str | URL, *, auto_upgrade: bool) -> None:
    """Check the schema is at head; upgrade it when allowed, else say how to.

    Raises ``SchemaOutdatedError`` (behind head, upgrade not allowed) or
    ``SchemaTooNewError`` (a revision this version does not know).
    """
    at = await database_revision(engine)
    if at == HEAD_REVISION:
        return
    if at is not None and at not in SCHEMA_REVISIONS:
        raise SchemaTooNewError(at, HEAD_REVISION, display_url(url))
    if not auto_upgrade:
        raise SchemaOutdatedError(at, HEAD_REVISION, display_url(url))
    if at is None and engine.dialect.name == SQLITE and await create_fresh_schema(engine):
        return
    from adaptive.storage.sql.migrate import upgrade_engine

    await upgrade_engine(engine, HEAD_REVISION)


async def create_fresh_schema(engine: AsyncEngine) -> bool:
    """Create an empty SQLite database's tables at head; ``False`` if it was not empty.

    Runs under the database write lock, so two processes opening the same
    new file create it once; the loser finds the tables and does nothing.
    """
    async with engine.connect() as connection:
        writer = await connection.execution_options(**{WRITE_OPTION: True})
        async with writer.begin():
            return await writer.run_sync(_create_if_empty)


def _create_if_empty(connection: Connection) -> bool:
    from adaptive.storage.sql.models import Base

    if inspect(connection).get_table_names():
        return False
    Base.metadata.create_all(connection)
    connection.execute(
        text(
            f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
            f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"
        )
    )
    connection.execute(
        text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:head)"), {"head": HEAD_REVISION}
    )
    return True
