"""Sensitivity scoring: each signal, logical steps, normalisation and the 1..scale mapping."""

from __future__ import annotations

import pytest

from adaptive.trie.contexts import LlmCallContext, extract_llm_contexts
from adaptive.trie.sensitivity import (
    SensitivityConfig,
    compute_logical_positions,
    compute_sensitivity_scores,
    critical_path_weight,
    parallel_penalty,
    score_to_sensitivity,
)

from .support import call, run

SECOND_MS = 1000.0


def context(
    start_s: float, end_s: float, *, call_s: float = 1.0, workflow_s: float = 10.0
) -> LlmCallContext:
    return LlmCallContext(
        path=["llm"],
        call_index=1,
        remaining_calls=0,
        time_to_next_ms=None,
        output_tokens=0,
        call_duration_s=call_s,
        workflow_duration_s=workflow_s,
        span_start_time=start_s,
        span_end_time=end_s,
    )


def scores(contexts: list[LlmCallContext], config: SensitivityConfig) -> list[float]:
    compute_sensitivity_scores(contexts, config)
    return [c.sensitivity_score for c in contexts]


def test_defaults_match_the_reference() -> None:
    assert SensitivityConfig().model_dump() == {
        "sensitivity_scale": 5,
        "w_critical": 0.5,
        "w_fanout": 0.3,
        "w_position": 0.2,
        "w_parallel": 0.0,
    }


def test_single_call_scores_half() -> None:
    assert scores([context(0, 1)], SensitivityConfig()) == [0.5]


def test_no_calls_is_a_no_op() -> None:
    compute_sensitivity_scores([], SensitivityConfig())
    assert compute_logical_positions([]) == []


def test_sequential_calls_by_hand() -> None:
    # Workflow 10 s; calls 0-1 s, 2-3 s, 4-6 s are three steps (max remaining 2).
    # critical: 0.1, 0.1, 0.2   fanout: 1, 0.5, 0   position: 1, 0.5, 1
    # raw: 0.05+0.3+0.2 = 0.55   0.05+0.15+0.1 = 0.3   0.1+0+0.2 = 0.3
    # normalised over [0.3, 0.55]: 1, 0, 0
    calls = [call("llm", 0, 1000), call("llm", 2000, 3000), call("llm", 4000, 6000)]
    contexts = extract_llm_contexts(run(calls, end_ms=10_000))
    assert scores(contexts, SensitivityConfig()) == pytest.approx([1.0, 0.0, 0.0], abs=1e-12)


def test_all_equal_raw_scores_give_half() -> None:
    # Two overlapping calls form one step: fanout 0, position 1, equal critical weights.
    contexts = [context(0, 2), context(1, 3)]
    assert compute_logical_positions(contexts) == [0, 0]
    assert scores(contexts, SensitivityConfig()) == [0.5, 0.5]


def test_overlap_is_judged_on_whole_seconds() -> None:
    # 10-300 ms and 100-400 ms overlap, but both spans are [t, t] in whole seconds and a
    # start equal to the group's end opens a new step, so the reference sees two steps.
    contexts = extract_llm_contexts(run([call("a", 10, 300), call("b", 100, 400)], end_ms=500))
    assert compute_logical_positions(contexts) == [0, 1]
    # Crossing a second boundary does overlap: [0, 1] and [0, 1] in whole seconds.
    crossing = extract_llm_contexts(run([call("a", 900, 1100), call("b", 950, 1200)], end_ms=1300))
    assert compute_logical_positions(crossing) == [0, 0]


def test_logical_positions_sort_by_start_and_extend_groups() -> None:
    # Given out of order: spans (5,6), (0,2), (1,4), (3,5) -> (0,2)+(1,4)+(3,5) chain into
    # step 0 (group end grows to 5), then (5,6) starts at the end: step 1.
    contexts = [context(5, 6), context(0, 2), context(1, 4), context(3, 5)]
    assert compute_logical_positions(contexts) == [1, 0, 0, 0]


def test_parallel_penalty_weight() -> None:
    # Steps: {a, b} in parallel (0-2 s, 1-3 s), then c (5-6 s); all calls 1 s of 10 s.
    # With only w_parallel = 1: penalty for the pair = (0 + 1/2) / 2 = 0.25, c gets 0.
    # raw: -0.25, -0.25, 0 -> normalised 0, 0, 1.
    config = SensitivityConfig(w_critical=0.0, w_fanout=0.0, w_position=0.0, w_parallel=1.0)
    contexts = [context(0, 2), context(1, 3), context(5, 6)]
    assert scores(contexts, config) == [0.0, 0.0, 1.0]
    assert parallel_penalty(0.0, 1) == 0.0
    assert parallel_penalty(0.2, 4) == pytest.approx((0.2 + 0.75) / 2)


def test_position_signal_is_u_shaped() -> None:
    config = SensitivityConfig(w_critical=0.0, w_fanout=0.0, w_position=1.0)
    contexts = [context(0, 1), context(2, 3), context(4, 5)]
    # positions 1, 0.5, 1 -> normalised 1, 0, 1
    assert scores(contexts, config) == [1.0, 0.0, 1.0]


def test_critical_path_weight_branches() -> None:
    assert critical_path_weight(context(0, 1, call_s=2.0, workflow_s=8.0)) == 0.25
    assert critical_path_weight(context(0, 1, call_s=9.0, workflow_s=3.0)) == 1.0  # capped
    assert critical_path_weight(context(0, 1, call_s=2.0, workflow_s=0.0)) == 1.0  # no run time


@pytest.mark.parametrize(
    ("mean_score", "expected"),
    [
        (0.0, 1),
        (1.0, 5),
        (0.5, 3),
        (0.125, 2),  # 0.5 rounds away from zero (Python's round would give 0 -> 1)
        (0.625, 4),  # 2.5 -> 3 (banker's rounding would give 2 -> 3)
        (0.1, 1),  # 0.4 -> 0
        (1.7, 5),  # clamped to the scale
        (-0.4, 1),  # clamped to 1
    ],
)
def test_score_to_sensitivity(mean_score: float, expected: int) -> None:
    assert score_to_sensitivity(mean_score, 5) == expected
