"""Which database errors mean retry, unavailable, full or rejected (pure classification)."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from adaptive.errors import StorageError, StorageFullError, StorageUnavailableError
from adaptive.storage.sql.dialect import POSTGRESQL, SQLITE, ErrorKind, dialect_for
from adaptive.storage.sql.errors import ConcurrentUpdateError, storage_error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (asyncpg.exceptions.DiskFullError("could not extend file"), ErrorKind.FULL),
        (asyncpg.exceptions.SerializationError("could not serialize"), ErrorKind.RETRY),
        (asyncpg.exceptions.AdminShutdownError("terminating"), ErrorKind.UNAVAILABLE),
        (asyncpg.exceptions.UntranslatableCharacterError("\\u0000"), ErrorKind.REJECTED),
    ],
)
def test_postgresql_errors(error: BaseException, kind: ErrorKind) -> None:
    assert dialect_for(POSTGRESQL).classify(error) is kind


def sqlite_error(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("sqlite said no")
    error.sqlite_errorcode = code
    return error


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (sqlite3.SQLITE_FULL, ErrorKind.FULL),
        (sqlite3.SQLITE_BUSY, ErrorKind.RETRY),
        (sqlite3.SQLITE_IOERR, ErrorKind.UNAVAILABLE),
        (sqlite3.SQLITE_CONSTRAINT, ErrorKind.REJECTED),
    ],
)
def test_sqlite_errors(code: int, kind: ErrorKind) -> None:
    assert dialect_for(SQLITE).classify(sqlite_error(code)) is kind


def test_a_full_disk_is_an_outage_the_operator_must_act_on() -> None:
    translated = storage_error(sqlite_error(sqlite3.SQLITE_FULL), dialect_for(SQLITE), "storing")
    assert isinstance(translated, StorageFullError)
    assert isinstance(translated, StorageUnavailableError)  # the runtime keeps the runs
    assert "free disk space" in str(translated)
    retry = storage_error(sqlite_error(sqlite3.SQLITE_BUSY), dialect_for(SQLITE), "storing")
    assert isinstance(retry, ConcurrentUpdateError)
    rejected = storage_error(sqlite_error(sqlite3.SQLITE_CONSTRAINT), dialect_for(SQLITE), "x")
    assert type(rejected) is StorageError
