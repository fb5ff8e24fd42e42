"""Lookup fallbacks: exact index before all-index, deepest matching node wins."""

from __future__ import annotations

from adaptive.trie.lookup import PredictionTrieLookup, find_prediction
from adaptive.trie.models import LlmCallPrediction, PredictionMetrics, PredictionTrieNode


def marked(value: float) -> LlmCallPrediction:
    """A prediction recognisable by its remaining-calls mean."""
    return LlmCallPrediction(remaining_calls=PredictionMetrics(sample_count=1, mean=value))


def mark_of(prediction: LlmCallPrediction | None) -> float | None:
    return None if prediction is None else prediction.remaining_calls.mean


def tree() -> PredictionTrieNode:
    """root(any=1) -> a(any=2, #3=23) -> b(#1=31) ; root -> c(no predictions)."""
    b = PredictionTrieNode(name="b", predictions_by_call_index={1: marked(31)})
    a = PredictionTrieNode(
        name="a",
        children={"b": b},
        predictions_by_call_index={3: marked(23)},
        predictions_any_index=marked(2),
    )
    c = PredictionTrieNode(name="c")
    return PredictionTrieNode(
        name="root", children={"a": a, "c": c}, predictions_any_index=marked(1)
    )


def test_exact_index_at_the_deepest_node() -> None:
    assert mark_of(find_prediction(tree(), ["a", "b"], 1)) == 31


def test_index_missing_at_deepest_node_falls_back_to_ancestor() -> None:
    # b has only #1 and no any-index prediction, so a's any-index answers for #2.
    assert mark_of(find_prediction(tree(), ["a", "b"], 2)) == 2


def test_exact_index_beats_any_index_at_the_same_node() -> None:
    assert mark_of(find_prediction(tree(), ["a"], 3)) == 23
    assert mark_of(find_prediction(tree(), ["a"], 4)) == 2


def test_path_beyond_the_trie_uses_the_deepest_match() -> None:
    assert mark_of(find_prediction(tree(), ["a", "b", "x", "y"], 1)) == 31
    assert mark_of(find_prediction(tree(), ["a", "x", "b"], 1)) == 2  # stops at the first miss


def test_node_without_predictions_falls_back_to_root() -> None:
    assert mark_of(find_prediction(tree(), ["c"], 1)) == 1
    assert mark_of(find_prediction(tree(), ["unknown"], 1)) == 1
    assert mark_of(find_prediction(tree(), [], 9)) == 1


def test_nothing_learned_gives_none() -> None:
    assert find_prediction(PredictionTrieNode(name="root"), ["a"], 1) is None


def test_lookup_object_delegates() -> None:
    lookup = PredictionTrieLookup(tree())
    assert mark_of(lookup.find(["a", "b"], 1)) == 31
    assert lookup.root.name == "root"
