"""Alembic environment for adaptive's schema, on PostgreSQL (asyncpg) and SQLite (aiosqlite).

Three ways in:

* programmatic (``adaptive.storage.sql.migrate``, the backend's auto-upgrade):
  the caller passes an open connection in ``config.attributes["connection"]``;
* ``alembic upgrade head`` from the repository root: the URL comes from
  ``-x url=…``, else ``$ADAPTIVE_BACKEND``, else ``sqlalchemy.url``;
* offline (``alembic upgrade head --sql``): SQL is printed, not run.

Upgrades hold a lock (PostgreSQL advisory lock, SQLite write lock) so two
processes upgrading one database at once run the revisions once.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from adaptive.storage.sql.dialect import SQLITE, WRITE_OPTION, dialect_for
from adaptive.storage.sql.engine import create_engine
from adaptive.storage.sql.models import Base
from adaptive.storage.sql.urls import async_url

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("ADAPTIVE_BACKEND")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise SystemExit(
            "no database URL: pass -x url=postgresql://user@host/db, or set ADAPTIVE_BACKEND"
        )
    return url


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == SQLITE,
        compare_type=True,
        transactional_ddl=True,  # SQLite too: the engine emits BEGIN itself (see dialect.py)
    )
    with context.begin_transaction():
        dialect_for(connection.dialect.name).lock_for_migrations(connection)
        context.run_migrations()


async def run_with_new_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        dialect = dialect_for(engine.dialect.name)
        async with engine.connect() as connection, dialect.migrating(connection):
            writer = await connection.execution_options(**{WRITE_OPTION: True})
            await writer.run_sync(run_migrations)
            await writer.commit()
    finally:
        await engine.dispose()


def run_offline(url: str) -> None:
    context.configure(
        url=async_url(url),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


given_connection = config.attributes.get("connection")
if given_connection is not None:
    run_migrations(given_connection)
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name)
    if context.is_offline_mode():
        run_offline(database_url())
    else:
        asyncio.run(run_with_new_engine(database_url()))
