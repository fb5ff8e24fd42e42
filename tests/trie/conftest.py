"""Shared fixtures: the NeMo Relay 0.10.4 sample state the parity tests compare with."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from adaptive.records import RunRecord

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
def sample_runs(sample_state: dict[str, Any]) -> list[RunRecord]:
    """The 40 runs in the order NeMo Relay's learner processed them."""
    return [
        RunRecord.model_validate(sample_state[f"runs:{AGENT_ID}:{run_id}"])
        for run_id in sample_state[f"runs_index:{AGENT_ID}"]
    ]


@pytest.fixture(scope="session")
def sample_accumulators(sample_state: dict[str, Any]) -> dict[str, Any]:
    accumulators: dict[str, Any] = sample_state[f"accumulators:{AGENT_ID}"]
    return accumulators


@pytest.fixture(scope="session")
def sample_trie(sample_state: dict[str, Any]) -> dict[str, Any]:
    trie: dict[str, Any] = sample_state[f"trie:{AGENT_ID}"]
    return trie
