"""Running the ``adaptive`` command in-process, for the CLI and backend-parity tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from adaptive.cli.app import app
from tests.factories import SAMPLE_TRACE

runner = CliRunner()


def ingest_sample_into_memory(tmp_path: Path) -> tuple[Result, dict[str, Any]]:
    """``adaptive ingest`` of the sample into memory with ``--export``: output and state."""
    out = tmp_path / "memory.json"
    result = runner.invoke(
        app,
        [
            "ingest",
            str(SAMPLE_TRACE),
            "--backend",
            "memory://",
            "--agent-id",
            "planner",
            "--export",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    state: dict[str, Any] = json.loads(out.read_text())
    return result, state
