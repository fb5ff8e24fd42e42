"""Default agent hints from the trie root, with Rust's rounding and casts."""

from __future__ import annotations

from typing import Any

from adaptive.plan import AgentHints
from adaptive.trie.hints import compute_default_hints
from adaptive.trie.models import LlmCallPrediction, PredictionMetrics, PredictionTrieNode


def root_with(prediction: LlmCallPrediction | None) -> PredictionTrieNode:
    return PredictionTrieNode(name="root", predictions_any_index=prediction)


def test_hints_from_the_sample_trie(sample_trie: dict[str, Any]) -> None:
    # Root any-index: output p90 183.8 -> 184; interarrival mean 6.78 -> 7;
    # sensitivity 3 -> priority 5 - 3 = 2; remaining mean 0.79 -> 1, + 1 = 2 requests.
    root = PredictionTrieNode.model_validate(sample_trie["root"])
    assert compute_default_hints(root, 5) == AgentHints(
        osl=184, iat=7, priority=2, latency_sensitivity=3.0, prefix_id="default", total_requests=2
    )


def test_no_any_index_prediction_gives_none() -> None:
    assert compute_default_hints(root_with(None), 5) is None


def test_unlearned_sensitivity_and_half_way_rounding() -> None:
    prediction = LlmCallPrediction(
        remaining_calls=PredictionMetrics(sample_count=4, mean=2.5),  # -> 3, + 1
        interarrival_ms=PredictionMetrics(sample_count=4, mean=0.5),  # -> 1 (not 0)
        output_tokens=PredictionMetrics(sample_count=4, p90=2.5),  # -> 3 (not 2)
        latency_sensitivity=None,
    )
    assert compute_default_hints(root_with(prediction), 5) == AgentHints(
        osl=3, iat=1, priority=4, latency_sensitivity=0.0, prefix_id="default", total_requests=4
    )


def test_negative_interarrival_saturates_at_zero_and_priority_floors_at_zero() -> None:
    prediction = LlmCallPrediction(
        interarrival_ms=PredictionMetrics(sample_count=2, mean=-3.0),
        latency_sensitivity=5,
    )
    hints = compute_default_hints(root_with(prediction), 3)
    assert hints is not None
    assert (hints.iat, hints.priority, hints.latency_sensitivity) == (0, 0, 5.0)
    assert hints.total_requests == 1
