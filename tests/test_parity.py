"""Parity with NeMo Relay 0.10.4: learning from the sample trace gives the sample state."""

from __future__ import annotations

from typing import Any

import pytest

from adaptive.config import AdaptiveConfig
from adaptive.events.atof import ReadReport, read_events
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.export import export_state
from adaptive.storage.memory import MemoryBackend
from tests.factories import SAMPLE_TRACE, load_sample_state
from tests.parity import IDENTITY_KEYS, assert_json_close, canonical_multiset

AGENT = "planner"


async def ingest(runtime: AdaptiveRuntime) -> None:
    for event in read_events(SAMPLE_TRACE, ReadReport()):
        await runtime.emit(event)
    await runtime.wait_for_idle()


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return load_sample_state()


@pytest.fixture
async def exported() -> dict[str, Any]:
    async with AdaptiveRuntime(AdaptiveConfig(agent_id=AGENT), backend=MemoryBackend()) as rt:
        await ingest(rt)
        return await export_state(rt.backend, AGENT)


def run_id_map(exported: dict[str, Any], reference: dict[str, Any]) -> dict[str, str]:
    """Reference run id → our run id, matched by start time (ours are root scope uuids)."""
    ours = {v["started_at"]: v["id"] for k, v in exported.items() if k.startswith("runs:")}
    theirs = {v["started_at"]: v["id"] for k, v in reference.items() if k.startswith("runs:")}
    assert ours.keys() == theirs.keys()
    return {theirs[start]: ours[start] for start in theirs}


def test_runs_match_reference_except_ids(
    exported: dict[str, Any], reference: dict[str, Any]
) -> None:
    ids = run_id_map(exported, reference)
    assert exported["runs_index:planner"] == [ids[i] for i in reference["runs_index:planner"]]
    for their_id, our_id in ids.items():
        ours = dict(exported[f"runs:planner:{our_id}"])
        theirs = dict(reference[f"runs:planner:{their_id}"])
        assert ours.pop("id") == our_id
        theirs.pop("id")
        assert ours == theirs


def test_plan_is_identical(exported: dict[str, Any], reference: dict[str, Any]) -> None:
    ids = run_id_map(exported, reference)
    expected = reference["plan:planner"]
    expected["metadata_template"]["run_id"] = ids[expected["metadata_template"]["run_id"]]
    assert exported["plan:planner"] == expected


def test_accumulators_are_identical(exported: dict[str, Any], reference: dict[str, Any]) -> None:
    assert_json_close(exported["accumulators:planner"], reference["accumulators:planner"])


def test_trie_is_identical(exported: dict[str, Any], reference: dict[str, Any]) -> None:
    assert_json_close(exported["trie:planner"], reference["trie:planner"], ignore=IDENTITY_KEYS)


def test_acg_aggregate_is_identical(exported: dict[str, Any], reference: dict[str, Any]) -> None:
    assert_json_close(exported["acg_stability:planner"], reference["acg_stability:planner"])
    ours = exported["acg_observations:planner"]
    theirs = reference["acg_observations:planner"]
    assert [ir["blocks"] for ir in ours] == [ir["blocks"] for ir in theirs]


def test_acg_profiles_are_identical_as_a_multiset(
    exported: dict[str, Any], reference: dict[str, Any]
) -> None:
    def profiles(state: dict[str, Any], prefix: str) -> list[Any]:
        return [v for k, v in state.items() if k.startswith(prefix) and k != prefix + AGENT]

    assert canonical_multiset(profiles(exported, "acg_stability:")) == canonical_multiset(
        profiles(reference, "acg_stability:")
    )
    assert canonical_multiset(
        profiles(exported, "acg_observations:"), IDENTITY_KEYS
    ) == canonical_multiset(profiles(reference, "acg_observations:"), IDENTITY_KEYS)


async def test_reingesting_counts_nothing_twice(reference: dict[str, Any]) -> None:
    backend = MemoryBackend()
    async with AdaptiveRuntime(AdaptiveConfig(agent_id=AGENT), backend=backend) as rt:
        await ingest(rt)
        first = await export_state(backend, AGENT)
        await ingest(rt)
        assert rt.drain.stats.runs_duplicate == 40
    async with AdaptiveRuntime(AdaptiveConfig(agent_id=AGENT), backend=backend) as rt:
        await ingest(rt)
    second = await export_state(backend, AGENT)
    assert_json_close(second, first, ignore=IDENTITY_KEYS)
    assert len(second["runs_index:planner"]) == 40
    assert second["accumulators:planner"]["nodes"][""]["all_output_tokens"]["count"] == 99
