"""SQL storage: PostgreSQL (asyncpg) and SQLite (aiosqlite), one code base, Alembic-owned schema."""

from adaptive.storage.sql.backend import SqlBackend
from adaptive.storage.sql.errors import (
    ConcurrentUpdateError,
    SchemaError,
    SchemaOutdatedError,
    SchemaTooNewError,
)
from adaptive.storage.sql.models import text_digest

__all__ = [
    "ConcurrentUpdateError",
    "SchemaError",
    "SchemaOutdatedError",
    "SchemaTooNewError",
    "SqlBackend",
    "text_digest",
]
