"""Trie builder: parity with NeMo Relay's learned state, and incremental learning."""

from __future__ import annotations

import json
from typing import Any

from adaptive.records import CallKind, RunRecord
from adaptive.trie.accumulators import AccumulatorState
from adaptive.trie.builder import PredictionTrieBuilder
from adaptive.trie.sensitivity import SensitivityConfig

from .support import assert_json_close, call, run


def learned(runs: list[RunRecord], config: SensitivityConfig | None) -> PredictionTrieBuilder:
    builder = PredictionTrieBuilder(config)
    for record in runs:
        builder.add_run(record)
    return builder


def test_accumulators_match_nemo_relay(
    sample_runs: list[RunRecord], sample_accumulators: dict[str, Any]
) -> None:
    builder = learned(sample_runs, SensitivityConfig())
    assert_json_close(builder.accumulators.to_wire(), sample_accumulators)


def test_trie_matches_nemo_relay(sample_runs: list[RunRecord], sample_trie: dict[str, Any]) -> None:
    root = learned(sample_runs, SensitivityConfig()).build()
    assert_json_close(root.to_wire(), sample_trie["root"])


def test_learning_from_stored_state_each_run_matches(
    sample_runs: list[RunRecord], sample_trie: dict[str, Any]
) -> None:
    """The learner's cycle: load JSON, add one run, build, store JSON; builds agree throughout."""
    continuous = PredictionTrieBuilder(SensitivityConfig())
    stored = AccumulatorState().to_wire_json()
    for record in sample_runs:
        resumed = PredictionTrieBuilder(
            SensitivityConfig(), AccumulatorState.from_wire_json(stored)
        )
        resumed.add_run(record)
        continuous.add_run(record)
        assert resumed.build() == continuous.build()
        stored = resumed.accumulators.to_wire_json()
    assert json.loads(stored) == continuous.accumulators.to_wire()
    assert_json_close(continuous.build().to_wire(), sample_trie["root"])


def test_runs_without_llm_calls_change_nothing(sample_runs: list[RunRecord]) -> None:
    builder = learned(sample_runs[:5], SensitivityConfig())
    before = builder.accumulators.to_wire()
    builder.add_run(run([call("search", 0, 10, kind=CallKind.TOOL)], end_ms=10))
    builder.add_run(run([call("llm", 0, None)], end_ms=10))  # unfinished LLM call only
    builder.add_run(run([], end_ms=None))
    assert builder.accumulators.to_wire() == before


def test_empty_builder_builds_bare_root() -> None:
    assert PredictionTrieBuilder(SensitivityConfig()).build().to_wire() == {
        "name": "root",
        "children": {},
        "predictions_by_call_index": {},
        "predictions_any_index": None,
    }


def test_without_sensitivity_config_nothing_is_scored(sample_runs: list[RunRecord]) -> None:
    builder = learned(sample_runs[:3], None)
    root_accumulators = builder.accumulators.nodes[""]
    assert root_accumulators.sensitivity == {}
    assert not root_accumulators.all_sensitivity.has_samples()
    root = builder.build()
    predictions = [root.predictions_any_index, *root.predictions_by_call_index.values()]
    assert predictions and all(p is not None and p.latency_sensitivity is None for p in predictions)


def test_hand_built_run() -> None:
    # Calls a(0-1 s, 40 tokens), a(2-3 s, no token count), b(4-6 s, 10 tokens); run 10 s.
    # Sensitivity (see test_sequential_calls_by_hand): 1, 0, 0.
    builder = PredictionTrieBuilder(SensitivityConfig())
    builder.add_run(
        run(
            [
                call("a", 0, 1000, output_tokens=40),
                call("a", 2000, 3000),
                call("b", 4000, 6000, output_tokens=10),
            ],
            end_ms=10_000,
        )
    )
    nodes = builder.accumulators.nodes
    assert sorted(nodes) == ["", "a", "b"]
    assert sorted(nodes["a"].remaining_calls) == [1, 2]
    assert nodes["a"].all_remaining_calls.mean == 1.5  # remaining 2 and 1
    assert nodes["b"].remaining_calls[1].mean == 0.0
    # Gaps: a#1 -> 1000 ms, a#2 -> 1000 ms, b#1 (last) none; at the root b#1 shares index 1.
    assert sorted(nodes[""].interarrival_ms) == [1, 2]
    assert nodes[""].interarrival_ms[1].count == 1
    assert nodes[""].remaining_calls[1].count == 2
    assert nodes["a"].interarrival_ms[2].mean == 1000.0

    root = builder.build()
    a = root.children["a"]
    assert a.predictions_by_call_index[1].latency_sensitivity == 5  # score 1
    assert a.predictions_by_call_index[2].latency_sensitivity == 1  # score 0
    # a#2 has an interarrival sample, so both indices exist; b#1 has none -> zeros.
    b_first = root.children["b"].predictions_by_call_index[1]
    assert b_first.interarrival_ms.sample_count == 0
    assert b_first.output_tokens.mean == 10.0
    any_index = root.predictions_any_index
    assert any_index is not None
    assert any_index.output_tokens.mean == 50 / 3  # 40, 0, 10
    assert any_index.latency_sensitivity == 2  # mean score 1/3 -> round(4/3) + 1


def test_slash_in_a_call_name_nests_like_the_reference() -> None:
    builder = PredictionTrieBuilder(SensitivityConfig())
    builder.add_run(run([call("team/model", 0, 10)], end_ms=10))
    assert sorted(builder.accumulators.nodes) == ["", "team/model"]
    root = builder.build()
    assert root.children["team"].predictions_any_index is None
    assert root.children["team"].children["model"].predictions_any_index is not None


def test_seeded_builder_keeps_learning(sample_runs: list[RunRecord]) -> None:
    first = learned(sample_runs[:20], SensitivityConfig())
    seeded = PredictionTrieBuilder(
        SensitivityConfig(), AccumulatorState.from_wire(first.accumulators.to_wire())
    )
    for record in sample_runs[20:]:
        seeded.add_run(record)
    assert seeded.accumulators == learned(sample_runs, SensitivityConfig()).accumulators
