"""Finding the best learned prediction for an LLM call about to be made.

The caller's scope path may be deeper than, or diverge from, what the trie
has learned, so lookup falls back to the deepest matching ancestor; at each
node an exact call-index prediction beats the node's all-index one.
"""

from __future__ import annotations

from collections.abc import Sequence

from adaptive.trie.models import LlmCallPrediction, PredictionTrieNode


def prediction_at(node: PredictionTrieNode, call_index: int) -> LlmCallPrediction | None:
    """The node's prediction for ``call_index``, else its all-index prediction."""
    exact = node.predictions_by_call_index.get(call_index)
    return exact if exact is not None else node.predictions_any_index


def find_prediction(
    root: PredictionTrieNode, path: Sequence[str], call_index: int
) -> LlmCallPrediction | None:
    """Deepest prediction along ``path`` (root first); ``None`` if no node on it has one."""
    node = root
    deepest = prediction_at(node, call_index)
    for name in path:
        child = node.children.get(name)
        if child is None:
            break
        node = child
        found = prediction_at(node, call_index)
        if found is not None:
            deepest = found
    return deepest


class PredictionTrieLookup:
    """A trie root bound for repeated lookups (NeMo Relay's ``PredictionTrieLookup``)."""

    __slots__ = ("_root",)

    def __init__(self, root: PredictionTrieNode) -> None:
        self._root = root

    @property
    def root(self) -> PredictionTrieNode:
        return self._root

    def find(self, path: Sequence[str], call_index: int) -> LlmCallPrediction | None:
        return find_prediction(self._root, path, call_index)
