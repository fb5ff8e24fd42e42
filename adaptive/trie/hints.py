"""Default agent hints derived from the learned trie's root.

When an LLM request carries no scope the trie can match, the root's
all-index prediction is the best available summary of the agent, so the
hot cache serves these hints; integer conversions follow Rust's
(round half away from zero, saturating casts) so both runtimes agree.
"""

from __future__ import annotations

from adaptive.plan import AgentHints
from adaptive.trie.models import PredictionTrieNode
from adaptive.trie.rust_numbers import as_u32, round_half_away_from_zero

DEFAULT_PREFIX_ID = "default"
UNLEARNED_SENSITIVITY = 1
"""Sensitivity assumed for the priority when none was learned."""


def compute_default_hints(root: PredictionTrieNode, sensitivity_scale: int) -> AgentHints | None:
    """Hints from the root's all-index prediction; ``None`` if it has none."""
    prediction = root.predictions_any_index
    if prediction is None:
        return None
    learned = prediction.latency_sensitivity
    sensitivity = learned if learned is not None else UNLEARNED_SENSITIVITY
    return AgentHints(
        osl=as_u32(round_half_away_from_zero(prediction.output_tokens.p90)),
        iat=as_u32(round_half_away_from_zero(prediction.interarrival_ms.mean)),
        priority=max(sensitivity_scale - sensitivity, 0),
        latency_sensitivity=float(sensitivity) if learned is not None else 0.0,
        prefix_id=DEFAULT_PREFIX_ID,
        total_requests=as_u32(round_half_away_from_zero(prediction.remaining_calls.mean)) + 1,
    )
