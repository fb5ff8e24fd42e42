"""One way to build the async engine, shared by the backend, migrations and Alembic's env.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic_core
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adaptive.storage.sql import nul
from adaptive.storage.sql.dialect import POSTGRESQL, SQLITE_BUSY_TIMEOUT_S, SqlDialect, dialect_for
from adaptive.storage.sql.urls import SQLITE_DRIVER, async_url


def json_dumps(value: Any) -> str:
    """JSON text for payload columns; pydantic-core is several times faster than ``json``."""
    return pydantic_core.to_json(value).decode()


def json_loads(text: str | bytes) -> Any:
    return pydantic_core.from_json(text)


def create_engine(url: str | URL, **options: Any) -> AsyncEngine:
    """An async engine for a ``postgresql://``/``sqlite://`` URL; ``options`` go to SQLAlchemy."""
    target = async_url(url)
    dumps: Callable[[Any], str] = json_dumps
    loads: Callable[[str | bytes], Any] = json_loads
    if target.get_backend_name() == POSTGRESQL:
        dumps, loads = nul.json_codec(json_dumps, json_loads)
    settings: dict[str, Any] = {
        "pool_pre_ping": True,
        "json_serializer": dumps,
        "json_deserializer": loads,
    }
    if target.drivername == SQLITE_DRIVER:
        settings["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    settings.update(options)
    dialect = dialect_for(target.get_backend_name())
    dialect.prepare(target)
    engine = create_async_engine(target, **settings)
    dialect.install(engine)
    return engine


def engine_dialect(engine: AsyncEngine) -> SqlDialect:
    return dialect_for(engine.dialect.name)
