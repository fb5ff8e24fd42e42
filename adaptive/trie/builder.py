"""Incremental prediction-trie learning: fold runs into accumulators, then build.

``add_run`` only updates the stored ``AccumulatorState`` and ``build`` only
reads it, so learning run by run from stored state and building once gives
the same trie as building after every run; that is what lets NeMo Relay and
this package take turns on the same ``accumulators:{agent}`` key.
"""

from __future__ import annotations

from adaptive.records import RunRecord
from adaptive.trie.accumulators import AccumulatorState, NodeAccumulators
from adaptive.trie.contexts import LlmCallContext, extract_llm_contexts
from adaptive.trie.models import LlmCallPrediction, PredictionMetrics, PredictionTrieNode
from adaptive.trie.sensitivity import (
    SensitivityConfig,
    compute_sensitivity_scores,
    score_to_sensitivity,
)
from adaptive.trie.stats import DigestMemo, RunningStats

ROOT_NAME = "root"
PATH_SEPARATOR = "/"


class PredictionTrieBuilder:
    """Learns a prediction trie from runs, optionally with sensitivity scoring."""

    def __init__(
        self,
        sensitivity_config: SensitivityConfig | None,
        accumulators: AccumulatorState | None = None,
    ) -> None:
        """``sensitivity_config=None`` learns no latency sensitivity (as ``new(None)`` in Rust)."""
        self._accumulators = accumulators if accumulators is not None else AccumulatorState()
        self._sensitivity_config = sensitivity_config

    @property
    def accumulators(self) -> AccumulatorState:
        """The learned state (mutated in place by ``add_run``); store this to resume later."""
        return self._accumulators

    @property
    def sensitivity_config(self) -> SensitivityConfig | None:
        return self._sensitivity_config

    def add_run(self, run: RunRecord) -> None:
        """Fold one finished run's completed LLM calls into the accumulators."""
        contexts = extract_llm_contexts(run)
        if self._sensitivity_config is not None:
            compute_sensitivity_scores(contexts, self._sensitivity_config)
        for context in contexts:
            self._update_along_path(context)

    def build(self) -> PredictionTrieNode:
        """The trie implied by the accumulators (nodes and call indices in sorted order)."""
        root = PredictionTrieNode(name=ROOT_NAME)
        config = self._sensitivity_config
        scale = None if config is None else config.sensitivity_scale
        for path_key in sorted(self._accumulators.nodes):
            node = _get_or_create_node(root, path_key)
            _populate_predictions(node, self._accumulators.nodes[path_key], scale)
        return root

    def _update_along_path(self, context: LlmCallContext) -> None:
        """Every prefix of the call's path learns from it, root ("") included."""
        with_sensitivity = self._sensitivity_config is not None
        state = self._accumulators
        memo: DigestMemo = {}
        add_context(state.node(""), context, with_sensitivity=with_sensitivity, memo=memo)
        for depth in range(1, len(context.path) + 1):
            path_key = PATH_SEPARATOR.join(context.path[:depth])
            add_context(state.node(path_key), context, with_sensitivity=with_sensitivity, memo=memo)


def _stats_at(stats_by_index: dict[int, RunningStats], call_index: int) -> RunningStats:
    found = stats_by_index.get(call_index)
    if found is None:
        found = stats_by_index[call_index] = RunningStats()
    return found


def add_context(
    node: NodeAccumulators,
    context: LlmCallContext,
    *,
    with_sensitivity: bool,
    memo: DigestMemo | None = None,
) -> None:
    """Record one call's metrics at a node, for its call index and across all indices."""
    index = context.call_index
    remaining = float(context.remaining_calls)
    tokens = float(context.output_tokens)
    gap = context.time_to_next_ms

    _stats_at(node.remaining_calls, index).add_sample(remaining, memo)
    _stats_at(node.output_tokens, index).add_sample(tokens, memo)
    if gap is not None:
        _stats_at(node.interarrival_ms, index).add_sample(gap, memo)

    node.all_remaining_calls.add_sample(remaining, memo)
    node.all_output_tokens.add_sample(tokens, memo)
    if gap is not None:
        node.all_interarrival_ms.add_sample(gap, memo)

    if with_sensitivity:
        _stats_at(node.sensitivity, index).add_sample(context.sensitivity_score, memo)
        node.all_sensitivity.add_sample(context.sensitivity_score, memo)


def _get_or_create_node(root: PredictionTrieNode, path_key: str) -> PredictionTrieNode:
    """Walk ``/``-separated names from the root, creating missing children."""
    if not path_key:
        return root
    node = root
    for name in path_key.split(PATH_SEPARATOR):
        child = node.children.get(name)
        if child is None:
            child = node.children[name] = PredictionTrieNode(name=name)
        node = child
    return node


def _metrics(stats_by_index: dict[int, RunningStats], call_index: int) -> PredictionMetrics:
    stats = stats_by_index.get(call_index)
    return PredictionMetrics() if stats is None else stats.compute_metrics()


def _learned_sensitivity(stats: RunningStats | None, scale: int | None) -> int | None:
    if scale is None or stats is None or not stats.has_samples():
        return None
    return score_to_sensitivity(stats.mean, scale)


def _populate_predictions(
    node: PredictionTrieNode, accumulators: NodeAccumulators, scale: int | None
) -> None:
    """Per-index predictions for every index seen, plus the all-index fallback."""
    indices = (
        accumulators.remaining_calls.keys()
        | accumulators.interarrival_ms.keys()
        | accumulators.output_tokens.keys()
    )
    for index in sorted(indices):
        node.predictions_by_call_index[index] = LlmCallPrediction(
            remaining_calls=_metrics(accumulators.remaining_calls, index),
            interarrival_ms=_metrics(accumulators.interarrival_ms, index),
            output_tokens=_metrics(accumulators.output_tokens, index),
            latency_sensitivity=_learned_sensitivity(accumulators.sensitivity.get(index), scale),
        )
    if accumulators.all_remaining_calls.has_samples():
        node.predictions_any_index = LlmCallPrediction(
            remaining_calls=accumulators.all_remaining_calls.compute_metrics(),
            interarrival_ms=accumulators.all_interarrival_ms.compute_metrics(),
            output_tokens=accumulators.all_output_tokens.compute_metrics(),
            latency_sensitivity=_learned_sensitivity(accumulators.all_sensitivity, scale),
        )
