"""Latency-sensitivity scores for the LLM calls of one run.

Four weighted signals (share of the run spent in the call, how many logical
steps still depend on it, a U-shaped position preference and a penalty for
parallel siblings) are combined and min-max normalised within the run, as
NeMo Relay's builder (a port of NAT's ``trie_builder.py``) does. The
normalised score is later averaged per trie node and mapped onto 1..scale.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from adaptive.trie.contexts import LlmCallContext
from adaptive.trie.rust_numbers import as_i64, round_half_away_from_zero
from adaptive.wire import WireModel

ALL_EQUAL_SCORE = 0.5
"""Normalised score when every call in the run scored the same (or there is one call)."""


class SensitivityConfig(WireModel):
    """Scale and signal weights; the defaults are NeMo Relay's (and NAT's)."""

    sensitivity_scale: int = 5
    w_critical: float = 0.5
    w_fanout: float = 0.3
    w_position: float = 0.2
    w_parallel: float = 0.0


def compute_logical_positions(contexts: Sequence[LlmCallContext]) -> list[int]:
    """Step number of each call; calls whose spans overlap share a step.

    Interval merging over spans sorted by start. A call starting exactly when
    the group's latest end falls opens a new step (strict ``<``), which with
    whole-second span times makes calls within one second sequential.
    """
    if not contexts:
        return []
    by_start = sorted(range(len(contexts)), key=lambda index: contexts[index].span_start_time)
    positions = [0] * len(contexts)
    step = 0
    group_end = contexts[by_start[0]].span_end_time
    for index in by_start[1:]:
        context = contexts[index]
        if context.span_start_time < group_end:
            group_end = max(group_end, context.span_end_time)
        else:
            step += 1
            group_end = context.span_end_time
        positions[index] = step
    return positions


def critical_path_weight(context: LlmCallContext) -> float:
    """Share of the run's wall time spent in this call, capped at 1."""
    if context.workflow_duration_s > 0.0:
        return min(context.call_duration_s / context.workflow_duration_s, 1.0)
    return 1.0


def fanout_score(position: int, max_remaining_steps: int) -> float:
    """Fraction of the run's later steps still waiting on this one."""
    if max_remaining_steps > 0:
        return max(max_remaining_steps - position, 0) / max_remaining_steps
    return 0.0


def position_score(position: int, step_count: int) -> float:
    """U-shaped: first and last steps score 1, the middle 0.5."""
    if step_count > 1:
        normalized = position / (step_count - 1)
        return max(1.0 - normalized, normalized)
    return 1.0


def parallel_penalty(slack_ratio: float, group_size: int) -> float:
    """Penalty for sharing a step with siblings, averaged with the slack ratio."""
    if group_size > 1:
        group_penalty = (group_size - 1) / group_size
        return (slack_ratio + group_penalty) / 2.0
    return slack_ratio


def raw_sensitivity_scores(
    contexts: Sequence[LlmCallContext], positions: Sequence[int], config: SensitivityConfig
) -> list[float]:
    """Weighted signal sum per call, before normalisation."""
    step_count = max(positions) + 1 if positions else 1
    max_remaining_steps = max(step_count - 1, 0)
    group_sizes = Counter(positions)
    return [
        config.w_critical * critical_path_weight(context)
        + config.w_fanout * fanout_score(position, max_remaining_steps)
        + config.w_position * position_score(position, step_count)
        - config.w_parallel * parallel_penalty(context.parallel_slack_ratio, group_sizes[position])
        for context, position in zip(contexts, positions, strict=True)
    ]


def normalize_scores(raw_scores: Sequence[float]) -> list[float]:
    """Min-max normalise to [0, 1]; all-equal scores map to 0.5."""
    lowest = min(raw_scores)
    spread = max(raw_scores) - lowest
    if spread > 0.0:
        return [(score - lowest) / spread for score in raw_scores]
    return [ALL_EQUAL_SCORE] * len(raw_scores)


def compute_sensitivity_scores(
    contexts: Sequence[LlmCallContext], config: SensitivityConfig
) -> None:
    """Set each context's ``sensitivity_score`` (normalised within the run)."""
    if not contexts:
        return
    positions = compute_logical_positions(contexts)
    raw_scores = raw_sensitivity_scores(contexts, positions, config)
    for context, score in zip(contexts, normalize_scores(raw_scores), strict=True):
        context.sensitivity_score = score


def score_to_sensitivity(mean_score: float, scale: int) -> int:
    """Map a mean normalised score onto 1..scale (``round(mean * (scale - 1)) + 1``)."""
    level = as_i64(round_half_away_from_zero(mean_score * (scale - 1.0))) + 1
    return max(1, min(level, scale))
