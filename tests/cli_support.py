"""Helpers for the command-line tests: backends to point commands at, checked invocations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from adaptive.cli.app import app
from tests.cli_runs import runner
from tests.factories import SAMPLE_TRACE

UNREACHABLE_POSTGRES = "postgresql://postgres@127.0.0.1:9/adaptive"
UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"
"""Port 9 (discard): nothing listens there on the test machines, so connecting is refused."""

BACKEND_KINDS = ("sqlite", "postgresql", "redis", "tiered")


def tiered_config(tmp_path: Path, durable: str, hot: str) -> Path:
    """A TOML config naming a tiered backend (tiered has no single-URL form)."""
    path = tmp_path / "tiered.toml"
    path.write_text(
        f'[state.backend]\nkind = "tiered"\n[state.backend.config]\n'
        f"durable = {json.dumps(durable)}\nhot = {json.dumps(hot)}\n"
    )
    return path


def backend_args(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> list[str]:
    """Command-line options naming a fresh backend of ``kind`` (a URL, or a tiered config)."""
    if kind == "tiered":
        durable: str = request.getfixturevalue("fresh_postgres_url")
        hot: str = request.getfixturevalue("redis_url")
        return ["--config", str(tiered_config(tmp_path, durable, hot))]
    fixture = {"sqlite": "sqlite_url", "postgresql": "fresh_postgres_url", "redis": "redis_url"}
    url: str = request.getfixturevalue(fixture[kind])
    return ["--backend", url]


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the command; it must succeed."""
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def invoke_json(*args: str) -> Any:
    return json.loads(invoke(*args).stdout)


def invoke_failing(*args: str) -> Result:
    """Run the command; it must fail the way a shell user can act on: exit 2, one line, no trace."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result


def ingest_sample(backend: list[str], *extra: str) -> None:
    invoke("ingest", str(SAMPLE_TRACE), *backend, "--agent-id", "planner", *extra)
