"""Every command that touches storage fails the same actionable way: exit 2, one line, the fix.

A shell user who named a backend that does not exist, is down, or is behind
its migrations must learn what to change from the message alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_support import UNREACHABLE_POSTGRES, UNREACHABLE_REDIS, invoke_failing
from tests.factories import SAMPLE_TRACE

RUN_ID = "01a20a42-3f7b-7aa0-a534-61f150386890"

STORAGE_COMMANDS = {
    "ingest": ["ingest", str(SAMPLE_TRACE)],
    "state export": ["state", "export"],
    "runs list": ["runs", "list"],
    "runs show": ["runs", "show", RUN_ID],
    "plan show": ["plan", "show"],
    "hints show": ["hints", "show"],
}
SQL_COMMANDS = {
    **{f"analytics {name}": ["analytics", name] for name in ("runs", "slowest")},
    "report": ["report", "--out", "{tmp}/report.html"],
    "db current": ["db", "current"],
}
EVERY_COMMAND = {**STORAGE_COMMANDS, **SQL_COMMANDS}


def command(name: str, tmp_path: Path) -> list[str]:
    return [part.replace("{tmp}", str(tmp_path)) for part in EVERY_COMMAND[name]]


@pytest.mark.parametrize("name", EVERY_COMMAND)
def test_an_unknown_backend_scheme_names_the_known_ones(name: str, tmp_path: Path) -> None:
    result = invoke_failing(*command(name, tmp_path), "--backend", "mysql://db.example/x")
    assert "unknown backend URL scheme 'mysql'" in result.stderr
    assert "postgresql://" in result.stderr and "redis://" in result.stderr


@pytest.mark.parametrize("name", EVERY_COMMAND)
def test_an_unreachable_postgres_says_to_check_the_server(name: str, tmp_path: Path) -> None:
    result = invoke_failing(*command(name, tmp_path), "--backend", UNREACHABLE_POSTGRES)
    assert "unavailable" in result.stderr and "127.0.0.1:9" in result.stderr
    assert "is the server running and reachable?" in result.stderr


@pytest.mark.parametrize("name", STORAGE_COMMANDS)
def test_an_unreachable_redis_says_to_check_the_server(name: str, tmp_path: Path) -> None:
    result = invoke_failing(*command(name, tmp_path), "--backend", UNREACHABLE_REDIS)
    assert "unavailable" in result.stderr and "127.0.0.1:9" in result.stderr
    assert "is the server running and reachable?" in result.stderr


@pytest.mark.parametrize("name", [name for name in EVERY_COMMAND if name != "db current"])
def test_a_postgres_behind_its_migrations_names_the_upgrade_command(
    name: str, tmp_path: Path, empty_postgres_url: str
) -> None:
    result = invoke_failing(*command(name, tmp_path), "--backend", empty_postgres_url)
    assert f"upgrade it with: adaptive db upgrade --backend {empty_postgres_url}" in result.stderr


@pytest.mark.parametrize("name", EVERY_COMMAND)
def test_a_missing_config_file_is_named(name: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    result = invoke_failing(*command(name, tmp_path), "--config", str(missing))
    assert f"config file not found: {missing}" in result.stderr


def test_asyncio_noise_of_a_restarting_server_is_silenced_by_the_command() -> None:
    """asyncio logs one line per write to a dropped socket; the drain reports the outage once."""
    import logging

    from adaptive.cli.app import _DeadSocketNoise

    noise = logging.LogRecord(
        "asyncio", logging.WARNING, "", 0, "socket.send() raised exception.", (), None
    )
    other = logging.LogRecord("asyncio", logging.WARNING, "", 0, "Task was destroyed", (), None)
    assert _DeadSocketNoise().filter(noise) is False
    assert _DeadSocketNoise().filter(other) is True
