"""The incremental window must always agree with analyzing its contents afresh."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive.acg import (
    BlockContentType,
    PromptBlock,
    PromptIR,
    PromptRole,
    StabilityThresholds,
    StabilityWindow,
    analyze_profile_stability,
    analyze_stability,
)
from tests.acg.support import block, prompt

LEARNING_KEY = "agent::model=m::seed=stable-scaffold::system=no-system::tools=no-tools"

# Few span ids, contents and positions, so observations collide often: shared
# prefixes, duplicate spans, spans at several indexes, scaffold and non-scaffold.
_blocks = st.builds(
    block,
    span_id=st.sampled_from(["system-0", "system-1-search", "user-1", "user-2", "tool-2-c"]),
    sequence_index=st.integers(min_value=0, max_value=3),
    content=st.sampled_from(["a", "b", "c"]),
    role=st.sampled_from(list(PromptRole)),
    content_type=st.sampled_from([BlockContentType.TEXT, BlockContentType.TOOL_SCHEMA]),
)
_observations = st.builds(
    lambda blocks, request_hash: prompt(*blocks, source_request_hash=request_hash),
    st.lists(_blocks, max_size=4),
    st.sampled_from([None, "req-1", "req-2", "req-3"]),
)
_thresholds = st.builds(
    StabilityThresholds,
    stable_threshold=st.sampled_from([0.0, 0.5, 0.6, 0.95, 1.0, 1.5]),
    semi_stable_threshold=st.sampled_from([0.0, 0.3, 0.5]),
    min_observations_for_full_confidence=st.sampled_from([0, 1, 3, 20]),
)


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(min_value=0, max_value=10),
    thresholds=_thresholds,
    preloaded=st.lists(_observations, max_size=8),
    appended=st.lists(_observations, max_size=40),
)
def test_window_equals_fresh_analysis_after_every_append(
    capacity: int,
    thresholds: StabilityThresholds,
    preloaded: list[PromptIR],
    appended: list[PromptIR],
) -> None:
    window = StabilityWindow(capacity, thresholds, preloaded)
    reference = list(preloaded)
    assert window.result() == analyze_stability(reference, thresholds)
    for observation in appended:
        window.append(observation)
        if reference and len(reference) >= capacity:
            reference.pop(0)
        reference.append(observation)
        assert window.observations == reference
        assert window.result() == analyze_stability(reference, thresholds)
        assert window.profile_result(LEARNING_KEY) == analyze_profile_stability(
            reference, LEARNING_KEY, thresholds
        )


def test_append_evicts_the_oldest_once_full() -> None:
    first, second, third = (prompt(block("s", 0, c)) for c in "abc")
    window = StabilityWindow(2)
    assert window.append(first) is None
    assert window.append(second) is None
    assert window.append(third) is first
    assert window.observations == [second, third]
    assert len(window) == 2


def test_a_window_loaded_over_capacity_keeps_its_size() -> None:
    # NeMo Relay's learner pops at most one observation per append.
    loaded = [prompt(block("s", 0, c)) for c in "abcd"]
    window = StabilityWindow(2, observations=loaded)
    newest = prompt(block("s", 0, "e"))
    assert window.append(newest) is loaded[0]
    assert window.observations == [*loaded[1:], newest]


def test_zero_capacity_behaves_like_one() -> None:
    window = StabilityWindow(0)
    window.append(prompt(block("s", 0, "a")))
    window.append(prompt(block("s", 0, "b")))
    assert [o.blocks[0].content for o in window] == ["b"]


def test_results_are_independent_copies() -> None:
    window = StabilityWindow(3, observations=[prompt(block("s", 0, "a"))])
    first = window.result()
    first.scores.clear()
    assert len(window.result().scores) == 1


def test_eviction_forgets_spans_and_prefixes() -> None:
    window = StabilityWindow(1)
    window.append(prompt(block("system-0", 0, "a"), block("user-1", 1, "q", PromptRole.USER)))
    window.append(prompt(block("system-0", 0, "b")))
    result = window.result()
    assert [s.span_id for s in result.scores] == ["system-0"]
    assert result.stable_prefix_length == 1
    assert result == analyze_stability([prompt(block("system-0", 0, "b"))])


def test_blocks_keep_their_identity_in_the_window() -> None:
    observation = PromptIR.model_validate(
        {
            "ir_id": "df40a538-e056-48a5-81ca-a61c92f8febf",
            "blocks": [
                PromptBlock(
                    span_id="x",
                    sequence_index=0,
                    role=PromptRole.TOOL,
                    content="c",
                    content_type=BlockContentType.TOOL_RESULT,
                    provenance="tool",
                ).to_wire()
            ],
            "created_at": "2026-11-23T21:14:03.534523775Z",
        }
    )
    window = StabilityWindow(5, observations=[observation])
    assert window.observations[0] is observation


def test_profile_fingerprint_counts_scaffold_only_prefixes_of_other_observations() -> None:
    # Threshold 0.6 over 5 observations needs 3. Three share a prefix reaching
    # a user block (bound to their own requests, one vote each); two share a
    # system-only prefix of the same length (bound to the scaffold marker, two
    # votes), so the scaffold digest is the commonest.
    thresholds = StabilityThresholds(stable_threshold=0.6)
    turns = [
        prompt(
            block("system-0", 0, "a"),
            block("user-1", 1, "q", PromptRole.USER),
            source_request_hash=f"r{i}",
        )
        for i in range(3)
    ]
    scaffolds = [
        prompt(block("system-0", 0, "a"), block("system-1", 1, "b"), source_request_hash=f"s{i}")
        for i in range(2)
    ]
    observations = turns + scaffolds
    window = StabilityWindow(5, thresholds, observations)
    expected = analyze_profile_stability(observations, LEARNING_KEY, thresholds)
    scaffold_only = analyze_profile_stability(scaffolds, LEARNING_KEY, thresholds)
    assert expected.stable_prefix_length == 2
    assert expected.stable_prefix_fingerprint == scaffold_only.stable_prefix_fingerprint
    assert window.profile_result(LEARNING_KEY) == expected
