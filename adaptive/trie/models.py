"""Prediction trie wire models, JSON-identical to NeMo Relay's (and NAT's) trie.

The learned trie is stored next to NeMo Relay's and read by it, so every
field is written the way serde writes the Rust types: no field is skipped,
``None`` becomes ``null`` and call-index keys become strings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from adaptive.timestamps import format_rfc3339_ns, now_ns
from adaptive.wire import WireModel

TRIE_FORMAT_VERSION: Literal["1.0"] = "1.0"


class PredictionMetrics(WireModel):
    """Summary of one metric; all zeros means "no samples"."""

    sample_count: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0


class LlmCallPrediction(WireModel):
    """What to expect from an LLM call at one position of the call hierarchy."""

    remaining_calls: PredictionMetrics = Field(default_factory=PredictionMetrics)
    interarrival_ms: PredictionMetrics = Field(default_factory=PredictionMetrics)
    output_tokens: PredictionMetrics = Field(default_factory=PredictionMetrics)
    latency_sensitivity: int | None = None
    """1..scale; ``None`` (JSON ``null``) when no sensitivity was learned."""


class PredictionTrieNode(WireModel):
    """One function in the call hierarchy with its per-call-index predictions."""

    name: str
    children: dict[str, PredictionTrieNode] = Field(default_factory=dict)
    predictions_by_call_index: dict[int, LlmCallPrediction] = Field(default_factory=dict)
    """Keyed by 1-based call index."""
    predictions_any_index: LlmCallPrediction | None = None


class TrieEnvelope(WireModel):
    """Versioned wrapper NeMo Relay stores under ``trie:{agent}``."""

    version: str = TRIE_FORMAT_VERSION
    generated_at: str
    """Kept as text: chrono's ``to_rfc3339`` form (``+00:00``), preserved verbatim."""
    workflow_name: str
    root: PredictionTrieNode

    @classmethod
    def wrap(
        cls, root: PredictionTrieNode, workflow_name: str, *, generated_at_ns: int | None = None
    ) -> TrieEnvelope:
        """Envelope stamped now (or at ``generated_at_ns``), as ``TrieEnvelope::new`` does."""
        stamp = now_ns() if generated_at_ns is None else generated_at_ns
        return cls(
            version=TRIE_FORMAT_VERSION,
            generated_at=format_rfc3339_ns(stamp, zulu=False),
            workflow_name=workflow_name,
            root=root,
        )
