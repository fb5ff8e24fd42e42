"""Every value NeMo Relay 0.10.4 wrote loads into our models and serializes back unchanged."""

from __future__ import annotations

from typing import Any

from adaptive.acg import PromptIR, StabilityAnalysisResult
from adaptive.plan import ExecutionPlan
from adaptive.records import RunRecord
from adaptive.trie import AccumulatorState, TrieEnvelope


def round_trip(key: str, value: Any) -> Any:
    kind = key.split(":", 1)[0]
    if kind == "runs":
        return RunRecord.model_validate(value).to_wire()
    if kind == "plan":
        return ExecutionPlan.model_validate(value).to_wire()
    if kind == "trie":
        return TrieEnvelope.model_validate(value).to_wire()
    if kind == "accumulators":
        return AccumulatorState.from_wire(value).to_wire()
    if kind == "acg_observations":
        return [PromptIR.model_validate(item).to_wire() for item in value]
    if kind == "acg_stability":
        return StabilityAnalysisResult.model_validate(value).to_wire()
    if kind == "runs_index":
        return list(value)
    raise AssertionError(f"unexpected key {key}")


def test_every_reference_value_round_trips(sample_state: dict[str, Any]) -> None:
    changed = [key for key, value in sample_state.items() if round_trip(key, value) != value]
    assert len(sample_state) == 50
    assert changed == []


def test_unknown_fields_are_preserved(sample_state: dict[str, Any]) -> None:
    value = {**sample_state["acg_stability:planner"], "added_in_a_later_version": {"x": [1, 2]}}
    assert StabilityAnalysisResult.model_validate(value).to_wire() == value
    run = next(v for k, v in sample_state.items() if k.startswith("runs:"))
    newer = {**run, "status": "ok", "calls": [{**run["calls"][0], "cost_usd": 0.25}]}
    assert RunRecord.model_validate(newer).to_wire() == newer
