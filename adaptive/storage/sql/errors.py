"""Database errors → the storage errors the drain acts on.

The drain keeps runs and retries later on ``StorageUnavailableError``, and
sets a batch aside on any other ``StorageError``; a lost race between two
writers is neither, so it surfaces as ``ConcurrentUpdateError`` and the
backend runs the unit again. Messages say what was being done, so that an
operator reading a log line knows which data the database refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from adaptive.errors import StorageError, StorageFullError, StorageUnavailableError
from adaptive.storage.sql.dialect import ErrorKind, SqlDialect


class ConcurrentUpdateError(StorageUnavailableError):
    """Another writer changed the same state first; the unit of work should run again.

    A subclass of ``StorageUnavailableError`` so that code which lets outages
    through (learners, the drain) lets this through too, up to the retry loop.
    """


class SchemaError(StorageError):
    """The database schema does not match what this version of adaptive expects."""


class SchemaOutdatedError(SchemaError):
    """The database schema is behind this version of adaptive; it must be upgraded."""

    def __init__(self, current: str | None, head: str, url: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"database schema of {url} is at revision {current or '<none: empty database>'} "
            f"but this version of adaptive needs revision {head}; "
            f"upgrade it with: adaptive db upgrade --backend {url}"
        )


class SchemaTooNewError(SchemaError):
    """The database was migrated by a newer version of adaptive than this one."""

    def __init__(self, current: str, head: str, url: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"database schema of {url} is at revision {current}, which this version of "
            f"adaptive does not know (its newest revision is {head}); upgrade adaptive, "
            "or downgrade the database with the version that migrated it"
        )


def storage_error(error: BaseException, dialect: SqlDialect, action: str) -> StorageError:
    """The storage error to raise for a database error raised while doing ``action``."""
    if isinstance(error, StorageError):
        return error
    kind = dialect.classify(error)
    detail = _detail(error)
    if kind is ErrorKind.RETRY:
        return ConcurrentUpdateError(f"concurrent update while {action}: {detail}")
    if kind is ErrorKind.FULL:
        return StorageFullError(
            f"{dialect.name} database out of space while {action}: {detail} "
            "(free disk space or raise the quota)"
        )
    if kind is ErrorKind.UNAVAILABLE:
        return StorageUnavailableError(
            f"{dialect.name} database unavailable while {action}: {detail}"
        )
    return StorageError(f"{dialect.name} database rejected {action}: {detail}")


@contextmanager
def translated_errors(dialect: SqlDialect, action: str) -> Iterator[None]:
    """Re-raise database and connection errors inside the block as storage errors.

    Errors that are not about the database (a learner's bug, a cancellation)
    pass through untouched.
    """
    try:
        yield
    except (SQLAlchemyError, OSError, TimeoutError, UnicodeError) as error:
        raise storage_error(error, dialect, action) from error
    except Exception as error:
        if type(error).__module__.startswith("asyncpg"):
            raise storage_error(error, dialect, action) from error
        raise


def _detail(error: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's statement and parameter dump."""
    orig = getattr(error, "orig", None)
    message = str(orig if orig is not None else error).strip()
    first_line = message.splitlines()[0] if message else type(error).__name__
    return first_line[:500]
