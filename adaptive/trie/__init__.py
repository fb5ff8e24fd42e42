"""Prediction trie: t-digest, running stats, accumulators, builder, lookup, hints.

Wire-compatible with NeMo Relay's ``adaptive::trie`` module, so learned state
can be shared with NeMo Relay processes in both directions.
"""

from adaptive.trie.accumulators import AccumulatorState, NodeAccumulators
from adaptive.trie.builder import PredictionTrieBuilder
from adaptive.trie.contexts import LlmCallContext, extract_llm_contexts
from adaptive.trie.hints import compute_default_hints
from adaptive.trie.lookup import PredictionTrieLookup, find_prediction
from adaptive.trie.models import (
    TRIE_FORMAT_VERSION,
    LlmCallPrediction,
    PredictionMetrics,
    PredictionTrieNode,
    TrieEnvelope,
)
from adaptive.trie.sensitivity import (
    SensitivityConfig,
    compute_sensitivity_scores,
    score_to_sensitivity,
)
from adaptive.trie.stats import RunningStats
from adaptive.trie.tdigest import DEFAULT_MAX_SIZE, TDigest

__all__ = [
    "DEFAULT_MAX_SIZE",
    "TRIE_FORMAT_VERSION",
    "AccumulatorState",
    "LlmCallContext",
    "LlmCallPrediction",
    "NodeAccumulators",
    "PredictionMetrics",
    "PredictionTrieBuilder",
    "PredictionTrieLookup",
    "PredictionTrieNode",
    "RunningStats",
    "SensitivityConfig",
    "TDigest",
    "TrieEnvelope",
    "compute_default_hints",
    "compute_sensitivity_scores",
    "extract_llm_contexts",
    "find_prediction",
    "score_to_sensitivity",
]
