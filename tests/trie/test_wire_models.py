"""Accumulator and trie JSON: NeMo Relay's documents load and dump unchanged."""

from __future__ import annotations

import copy
import json
from typing import Any

from adaptive.trie.accumulators import AccumulatorState, NodeAccumulators
from adaptive.trie.models import LlmCallPrediction, PredictionTrieNode, TrieEnvelope
from adaptive.trie.stats import RunningStats


def test_sample_accumulators_round_trip(sample_accumulators: dict[str, Any]) -> None:
    state = AccumulatorState.from_wire(sample_accumulators)
    assert state.to_wire() == sample_accumulators
    assert json.loads(state.to_wire_json()) == sample_accumulators


def test_call_indices_are_ints_in_memory(sample_accumulators: dict[str, Any]) -> None:
    state = AccumulatorState.model_validate(sample_accumulators)
    root = state.nodes[""]
    assert sorted(root.remaining_calls) == [1, 2, 3]
    assert isinstance(root.remaining_calls[1], RunningStats)
    assert (
        root.remaining_calls[1].count
        == sample_accumulators["nodes"][""]["remaining_calls"]["1"]["count"]
    )


def test_empty_node_writes_empty_digests_with_zero_min_max() -> None:
    wire = NodeAccumulators().to_wire()
    assert wire["remaining_calls"] == {}
    assert wire["all_sensitivity"]["digest"] == {
        "centroids": [],
        "max_size": 100,
        "sum": 0.0,
        "count": 0.0,
        "max": 0.0,
        "min": 0.0,
    }
    assert NodeAccumulators.model_validate(json.loads(json.dumps(wire))).to_wire() == wire


def test_unknown_fields_survive(sample_accumulators: dict[str, Any]) -> None:
    document = copy.deepcopy(sample_accumulators)
    document["nodes"]["openai"]["added_by_newer_relay"] = {"x": 1}
    document["schema_note"] = "kept"
    assert AccumulatorState.from_wire(document).to_wire() == document


def test_sample_trie_round_trip(sample_trie: dict[str, Any]) -> None:
    envelope = TrieEnvelope.model_validate(sample_trie)
    assert envelope.to_wire() == sample_trie
    assert envelope.generated_at == sample_trie["generated_at"]
    assert 3 in envelope.root.children["openai"].predictions_by_call_index


def test_unset_optionals_are_written_as_null() -> None:
    # The Rust types have no skip_serializing_if: None becomes null, never omitted.
    node = PredictionTrieNode(name="root", predictions_by_call_index={2: LlmCallPrediction()})
    wire = node.to_wire()
    assert wire["predictions_any_index"] is None
    assert wire["predictions_by_call_index"]["2"]["latency_sensitivity"] is None
    assert wire["predictions_by_call_index"]["2"]["output_tokens"] == {
        "sample_count": 0,
        "mean": 0.0,
        "p50": 0.0,
        "p90": 0.0,
        "p95": 0.0,
    }


def test_envelope_stamp_uses_chrono_rfc3339_form() -> None:
    root = PredictionTrieNode(name="root")
    # 2026-11-23T21:14:03.865535836Z as nanoseconds since the epoch.
    stamp = 1_795_468_443_865_535_836
    envelope = TrieEnvelope.wrap(root, "planner", generated_at_ns=stamp)
    assert envelope.to_wire() == {
        "version": "1.0",
        "generated_at": "2026-11-23T21:14:03.865535836+00:00",
        "workflow_name": "planner",
        "root": {
            "name": "root",
            "children": {},
            "predictions_by_call_index": {},
            "predictions_any_index": None,
        },
    }
    whole_second = TrieEnvelope.wrap(root, "planner", generated_at_ns=stamp - 865_535_836)
    assert whole_second.generated_at == "2026-11-23T21:14:03+00:00"


def test_direct_dump_equals_pydantic_dump(sample_accumulators: dict[str, Any]) -> None:
    document = copy.deepcopy(sample_accumulators)
    document["nodes"][""]["added_by_newer_relay"] = [1, "two"]
    state = AccumulatorState.from_wire(document)
    assert state.to_wire() == state.model_dump(mode="json") == document
    assert AccumulatorState.from_wire_json(state.to_wire_json()).to_wire() == document
