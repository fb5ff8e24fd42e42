"""Span scores, classes, ordering, the dominant prefix and its fingerprints.

Expected numbers are computed by hand in comments, or taken from NeMo
Relay's ``stability_internal_tests``.
"""

from __future__ import annotations

import hashlib

import pytest

from adaptive.acg import (
    PromptIR,
    PromptRole,
    StabilityAnalysisResult,
    StabilityClass,
    StabilityThresholds,
    analyze_profile_stability,
    analyze_stability,
    profile_prefix_fingerprint,
    prompt_prefix_fingerprint,
)
from adaptive.acg.stability import required_prefix_mass
from tests.acg.support import block, prompt


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _scores(result: StabilityAnalysisResult) -> list[tuple[str, str, float, float, int]]:
    return [
        (s.span_id, s.classification, s.score, s.confidence, s.observation_count)
        for s in result.scores
    ]


def test_defaults_match_nemo_relay() -> None:
    assert StabilityThresholds().to_wire() == {
        "stable_threshold": 0.95,
        "semi_stable_threshold": 0.5,
        "min_observations_for_full_confidence": 20,
    }


def test_empty_window() -> None:
    assert analyze_stability([]).to_wire() == {
        "scores": [],
        "stable_prefix_length": 0,
        "total_observations": 0,
    }


def test_score_of_exactly_095_is_stable() -> None:
    # 19 of 20 observations carry the span with one content: (19/20)·(19/19) = 0.95.
    observations = [prompt(block("system-0", 0, "p"), block("user-1", 1, "u"))] * 19
    observations.append(prompt(block("system-0", 0, "p")))
    result = analyze_stability(observations)
    assert _scores(result)[1] == ("user-1", "stable", 0.95, 0.95, 19)


def test_score_just_below_095_is_semi_stable() -> None:
    # 18 of 19 present: 18/19 = 0.947...
    observations = [prompt(block("s-0", 0, "a"))] * 18 + [prompt(block("x-0", 0, "b"))]
    score = analyze_stability(observations).scores[1]  # after the variable x-0
    assert (score.span_id, score.classification, score.score) == ("s-0", "semi_stable", 18 / 19)


def test_score_of_exactly_05_is_semi_stable_and_below_is_variable() -> None:
    # Present in 2 of 2 with two contents: 1·(1/2) = 0.5. Three contents of
    # three: 1·(1/3) is variable.
    half = analyze_stability([prompt(block("u-0", 0, "a")), prompt(block("u-0", 0, "b"))])
    assert _scores(half) == [("u-0", "semi_stable", 0.5, 0.1, 2)]
    third = analyze_stability([prompt(block("u-0", 0, c)) for c in "abc"])
    assert third.scores[0].classification is StabilityClass.VARIABLE


def test_thresholds_are_configurable() -> None:
    strict = StabilityThresholds(stable_threshold=1.0, semi_stable_threshold=0.96)
    observations = [prompt(block("s-0", 0, "a"))] * 19 + [prompt(block("s-0", 0, "b"))]
    assert analyze_stability(observations, strict).scores[0].classification == "variable"


def test_spans_present_in_only_some_observations() -> None:
    # Rust stability_internal_handles_empty_inputs_variable_scores_...:
    # span-0: present 3/3, contents A,A,B -> 1·(2/3); span-1: present 2/3,
    # contents X,Y -> (2/3)·(1/2) = 1/3.
    observations = [
        prompt(block("span-0", 0, "A"), block("span-1", 1, "X")),
        prompt(block("span-0", 0, "A")),
        prompt(block("span-0", 0, "B"), block("span-1", 1, "Y")),
    ]
    result = analyze_stability(observations)
    assert _scores(result) == [
        ("span-0", "semi_stable", 2 / 3, 3 / 20, 3),
        ("span-1", "variable", (2 / 3) * (1 / 2), 2 / 20, 2),
    ]
    assert result.stable_prefix_length == 0
    assert "stable_prefix_fingerprint" not in result.to_wire()


def test_confidence_saturates_and_zero_sample_size_means_full_confidence() -> None:
    observations = [prompt(block("s-0", 0, "a"))] * 25
    assert analyze_stability(observations).scores[0].confidence == 1.0
    instant = StabilityThresholds(min_observations_for_full_confidence=0)
    assert analyze_stability(observations[:1], instant).scores[0].confidence == 1.0


def test_scores_follow_the_first_sequence_index_then_rank_then_span_id() -> None:
    # Six observations. Index 0: user-0 1/6 variable, system-0 5/6 semi-stable.
    # Index 1: assistant-1-search 3/6 = 0.5 semi-stable; assistant-1-fetch,
    # system-1 and zz-1 1/6 variable. Least stable first, then span id.
    def turn(span: str, content: str) -> PromptIR:
        return prompt(block("system-0", 0, "policy"), block(span, 1, content))

    observations = [turn("assistant-1-search", "s")] * 3 + [
        turn("assistant-1-fetch", "f"),
        turn("zz-1", "z"),
        prompt(block("user-0", 0, "u"), block("system-1", 1, "policy")),
    ]
    assert [s.span_id for s in analyze_stability(observations).scores] == [
        "user-0",
        "system-0",
        "assistant-1-fetch",
        "system-1",
        "zz-1",
        "assistant-1-search",
    ]


def test_first_index_is_the_minimum_over_the_window() -> None:
    observations = [
        prompt(block("a", 0, "x"), block("shared", 1, "s")),
        prompt(block("shared", 0, "s")),
        prompt(block("b", 0, "y"), block("c", 1, "z")),
    ]
    # shared first appears at 0 and is the most stable (2/3 semi-stable) at
    # index 0, so it follows the variable a and b there; c follows at index 1.
    assert [s.span_id for s in analyze_stability(observations).scores] == ["a", "b", "shared", "c"]


def test_duplicate_span_ids_in_one_observation_count_presence_once() -> None:
    # Loaded windows may hold anything: two blocks with one span id add two
    # content counts but one presence, so the score can exceed 1 (as in Rust).
    observations = [prompt(block("s", 0, "a"), block("s", 1, "a"))]
    assert _scores(analyze_stability(observations)) == [("s", "stable", 2.0, 0.05, 1)]


def test_required_prefix_mass() -> None:
    # ceil(0.95·N), but at least a strict majority and at most N.
    assert required_prefix_mass(80, 0.95) == 76
    assert required_prefix_mass(20, 0.95) == 19
    assert required_prefix_mass(1, 0.95) == 1
    assert required_prefix_mass(10, 0.1) == 6
    assert required_prefix_mass(10, 2.0) == 10
    assert required_prefix_mass(10, float("nan")) == 6


def test_prefix_shared_by_the_dominant_mass_counts_despite_a_minority_span() -> None:
    # Rust stability_internal_keeps_a_prefix_shared_by_the_dominant_mass: 19
    # of 20 share both blocks; 19 >= ceil(0.95·20), so the prefix is 2 even
    # though a variable minority span shares index 1.
    def turn(span: str, content: str) -> PromptIR:
        return prompt(block("system-0", 0, "Follow policy"), block(span, 1, content))

    observations = [
        turn("assistant-1-fetch", "fetch(beta)") if i == 7 else turn("assistant-1-search", "x")
        for i in range(20)
    ]
    result = analyze_stability(observations)
    assert result.stable_prefix_length == 2
    assert [s.span_id for s in result.scores][:2] == ["system-0", "assistant-1-fetch"]


def test_prefix_stops_where_no_content_dominates() -> None:
    observations = [
        prompt(block("system-0", 0, "p"), block("user-1", 1, "alpha")),
        prompt(block("system-0", 0, "p"), block("user-1", 1, "beta")),
    ]
    result = analyze_stability(observations)
    assert result.stable_prefix_length == 1
    # Rust stability_internal_fingerprints_the_exact_dominant_prefix: the
    # digest is of the serde_json tuple (span, role, content type, content).
    expected = _digest('["system-0","system","text","p"]')
    assert result.stable_prefix_fingerprint == expected
    assert prompt_prefix_fingerprint(observations[0], 1) == expected
    assert prompt_prefix_fingerprint(observations[0], 0) is None
    assert prompt_prefix_fingerprint(observations[0], 3) is None


def test_a_single_observation_is_its_own_stable_prefix() -> None:
    only = prompt(block("system-0", 0, "p"), block("user-1", 1, 'q\n"x"', PromptRole.USER))
    result = analyze_stability([only])
    assert result.stable_prefix_length == 2
    assert result.stable_prefix_fingerprint == _digest(
        '["system-0","system","text","p"]\n["user-1","user","text","q\\n\\"x\\""]'
    )


def test_profile_fingerprint_inside_the_scaffold_binds_to_the_marker() -> None:
    observation = prompt(block("system-0", 0, "p"), block("user-1", 1, "q", PromptRole.USER))
    prefix = _digest('["system-0","system","text","p"]')
    assert profile_prefix_fingerprint(observation, 1, "key") == _digest(
        f"key\n{prefix}\nstable-scaffold"
    )


def test_profile_fingerprint_past_the_scaffold_binds_to_the_request() -> None:
    # Rust profile_fingerprint_requires_source_hash_beyond_the_scaffold.
    blocks = (block("system-0", 0, "p"), block("user-1", 1, "q", PromptRole.USER))
    assert profile_prefix_fingerprint(prompt(*blocks), 2, "key") is None
    bound = prompt(*blocks, source_request_hash="sha256:req")
    prefix = _digest('["system-0","system","text","p"]\n["user-1","user","text","q"]')
    assert profile_prefix_fingerprint(bound, 2, "key") == _digest(f"key\n{prefix}\nsha256:req")


def test_profile_result_picks_the_commonest_bound_fingerprint() -> None:
    # Every observation is the same two blocks, so the prefix is 2 (past the
    # scaffold) and each binds to its request: req-b twice beats req-a once.
    blocks = (block("system-0", 0, "p"), block("user-1", 1, "q", PromptRole.USER))
    observations = [
        prompt(*blocks, source_request_hash="req-a"),
        prompt(*blocks, source_request_hash="req-b"),
        prompt(*blocks, source_request_hash="req-b"),
        prompt(*blocks),
    ]
    result = analyze_profile_stability(observations, "key")
    prefix = _digest('["system-0","system","text","p"]\n["user-1","user","text","q"]')
    assert result.stable_prefix_length == 2
    assert result.stable_prefix_fingerprint == _digest(f"key\n{prefix}\nreq-b")


def test_profile_fingerprint_ties_break_on_the_smallest_digest() -> None:
    blocks = (block("system-0", 0, "p"), block("user-1", 1, "q", PromptRole.USER))
    observations = [prompt(*blocks, source_request_hash=h) for h in ("r1", "r2", "r3")]
    prefix = _digest('["system-0","system","text","p"]\n["user-1","user","text","q"]')
    candidates = [_digest(f"key\n{prefix}\n{h}") for h in ("r1", "r2", "r3")]
    result = analyze_profile_stability(observations, "key")
    assert result.stable_prefix_fingerprint == min(candidates)


@pytest.mark.parametrize("rotation", [1, 2, 3])
def test_analysis_ignores_window_order(rotation: int) -> None:
    # Rust stability_internal_analysis_is_invariant_under_observation_permutation.
    def turn(span: str, content: str) -> PromptIR:
        return prompt(block("system-0", 0, "Follow policy"), block(span, 1, content))

    observations = [
        turn("assistant-1-search", "search(alpha)"),
        turn("assistant-1-search", "search(alpha)"),
        turn("assistant-1-fetch", "fetch(beta)"),
        turn("assistant-1-search", "search(gamma)"),
    ]
    rotated = observations[rotation:] + observations[:rotation]
    assert analyze_stability(rotated) == analyze_stability(observations)


def test_result_json_omits_a_missing_fingerprint_and_keeps_unknown_fields() -> None:
    stored = {"scores": [], "stable_prefix_length": 0, "total_observations": 4, "extra": 1}
    assert StabilityAnalysisResult.model_validate(stored).to_wire() == stored
