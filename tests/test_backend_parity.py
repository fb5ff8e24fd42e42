"""The sample trace gives the same exported state on every backend (the contract)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adaptive.cli.app import app
from tests.cli_runs import ingest_sample_into_memory, runner
from tests.factories import SAMPLE_TRACE
from tests.parity import IDENTITY_KEYS, assert_json_close


def export_after_ingest(backend: str, tmp_path: Path) -> dict[str, Any]:
    ingested = runner.invoke(
        app, ["ingest", str(SAMPLE_TRACE), "--backend", backend, "--agent-id", "planner"]
    )
    assert ingested.exit_code == 0, ingested.output
    exported = runner.invoke(
        app, ["state", "export", "--backend", backend, "--agent-id", "planner"]
    )
    assert exported.exit_code == 0, exported.output
    state: dict[str, Any] = json.loads(exported.stdout)
    return state


def memory_export(tmp_path: Path) -> dict[str, Any]:
    return ingest_sample_into_memory(tmp_path)[1]


def test_sql_backend_exports_what_memory_exports(sql_url: str, tmp_path: Path) -> None:
    durable = export_after_ingest(sql_url, tmp_path)
    assert len(durable["runs_index:planner"]) == 40
    assert_json_close(durable, memory_export(tmp_path), ignore=IDENTITY_KEYS)


def test_reingest_into_sql_changes_nothing(sql_url: str, tmp_path: Path) -> None:
    first = export_after_ingest(sql_url, tmp_path)
    again = runner.invoke(
        app, ["ingest", str(SAMPLE_TRACE), "--backend", sql_url, "--agent-id", "planner"]
    )
    assert again.exit_code == 0, again.output
    assert "runs already stored" in again.output
    second = runner.invoke(app, ["state", "export", "--backend", sql_url, "--agent-id", "planner"])
    assert json.loads(second.stdout) == first


def test_redis_backend_exports_what_memory_exports(redis_url: str, tmp_path: Path) -> None:
    durable = export_after_ingest(redis_url, tmp_path)
    assert len(durable["runs_index:planner"]) == 40
    assert_json_close(durable, memory_export(tmp_path), ignore=IDENTITY_KEYS)
