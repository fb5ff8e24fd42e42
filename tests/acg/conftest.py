"""Fixtures: the NeMo Relay 0.10.4 sample whose ACG state the parity tests reproduce."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from adaptive.records import CallKind, RunRecord

SAMPLE_DIR = Path(os.environ.get("ADAPTIVE_REFERENCE_SAMPLE", "/work/shared/reference/sample"))
AGENT_ID = "planner"


@pytest.fixture(scope="session")
def sample_state() -> dict[str, Any]:
    """The ``state`` object of ``state.json`` (Redis keys without prefix)."""
    path = SAMPLE_DIR / "state.json"
    if not path.is_file():
        pytest.fail(
            f"reference sample not found at {path}; set ADAPTIVE_REFERENCE_SAMPLE to its directory"
        )
    state: dict[str, Any] = json.loads(path.read_text())["state"]
    return state


@pytest.fixture(scope="session")
def sample_requests(sample_state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every LLM call's annotated request, in the order NeMo Relay learned from them."""
    runs = [
        RunRecord.model_validate(sample_state[f"runs:{AGENT_ID}:{run_id}"])
        for run_id in sample_state[f"runs_index:{AGENT_ID}"]
    ]
    return [
        call.annotated_request
        for run in runs
        for call in run.calls
        if call.kind is CallKind.LLM and call.annotated_request is not None
    ]
