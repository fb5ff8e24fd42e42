"""Default agent hints derived from the learned trie's root.

When an LLM request carries no scope the trie can match, the root's
all-index prediction is the best available summary of the agent, so the
hot cache serves these hints; integer conversions follow Rust's
(round half away from zero, saturating casts) so both runtimes agree.
"""

from __future__ import annotations

from adaptive.plan import AgentHints
from adaptive.trie.models import LlmCallPrediction, PredictionTrieNode
from adaptive.trie.rust_numbers import as_u32, round_half_away_from_zero

DEFAULT_PREFIX_ID = "default"
UNLEARNED_SENSITIVITY = 1
"""Sensitivity assumed for the priority when none was learned."""


def prediction_hints(
    prediction: LlmCallPrediction,
    *,
    scale: int,
    prefix_id: str,
    call_index: int,
    unlearned_sensitivity: float,
) -> AgentHints:
    """Hints from one trie prediction, as NeMo Relay builds them.

    ``total_requests`` counts this call (``call_index``) and the calls still
    predicted after it; ``unlearned_sensitivity`` is what is reported when no
    sensitivity was learned (the priority then assumes ``UNLEARNED_SENSITIVITY``).
    """
    learned = prediction.latency_sensitivity
    sensitivity = learned if learned is not None else UNLEARNED_SENSITIVITY
    return AgentHints(
        osl=as_u32(round_half_away_from_zero(prediction.output_tokens.p90)),
        iat=as_u32(round_half_away_from_zero(prediction.interarrival_ms.mean)),
        priority=max(scale - sensitivity, 0),
        latency_sensitivity=float(learned) if learned is not None else unlearned_sensitivity,
        prefix_id=prefix_id,
        total_requests=as_u32(round_half_away_from_zero(prediction.remaining_calls.mean))
        + call_index,
    )


def compute_default_hints(root: PredictionTrieNode, sensitivity_scale: int) -> AgentHints | None:
    """Hints from the root's all-index prediction; ``None`` if it has none."""
    prediction = root.predictions_any_index
    if prediction is None:
        return None
    return prediction_hints(
        prediction,
        scale=sensitivity_scale,
        prefix_id=DEFAULT_PREFIX_ID,
        call_index=1,
        unlearned_sensitivity=0.0,
    )
