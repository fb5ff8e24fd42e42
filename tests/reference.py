"""Fixtures for the NeMo Relay 0.10.4 reference sample the parity tests compare with.

Imported by the conftest files that need them; the sample lives in
``tests/data/nemo_relay_0_10_4`` (its README says how it was recorded). A
missing sample fails loudly: parity tests must never be skipped.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from adaptive.records import CallKind, RunRecord
from tests.factories import SAMPLE_DIR

AGENT_ID = "planner"


@pytest.fixture(scope="session")
def sample_state() -> dict[str, Any]:
    """The ``state`` object of ``state.json`` (Redis keys without prefix)."""
    path = SAMPLE_DIR / "state.json"
    if not path.is_file():
        pytest.fail(
            f"reference sample not found at {path}: the repository's test data is incomplete"
        )
    state: dict[str, Any] = json.loads(path.read_text())["state"]
    return state


@pytest.fixture(scope="session")
def sample_runs(sample_state: dict[str, Any]) -> list[RunRecord]:
    """The 40 runs in the order NeMo Relay's learners processed them."""
    return [
        RunRecord.model_validate(sample_state[f"runs:{AGENT_ID}:{run_id}"])
        for run_id in sample_state[f"runs_index:{AGENT_ID}"]
    ]


@pytest.fixture(scope="session")
def sample_requests(sample_runs: list[RunRecord]) -> list[dict[str, Any]]:
    """Every LLM call's annotated request, in the order NeMo Relay learned from them."""
    return [
        call.annotated_request
        for run in sample_runs
        for call in run.calls
        if call.kind is CallKind.LLM and call.annotated_request is not None
    ]


@pytest.fixture(scope="session")
def sample_accumulators(sample_state: dict[str, Any]) -> dict[str, Any]:
    accumulators: dict[str, Any] = sample_state[f"accumulators:{AGENT_ID}"]
    return accumulators


@pytest.fixture(scope="session")
def sample_trie(sample_state: dict[str, Any]) -> dict[str, Any]:
    trie: dict[str, Any] = sample_state[f"trie:{AGENT_ID}"]
    return trie
