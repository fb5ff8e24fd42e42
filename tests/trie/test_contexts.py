"""LLM-call context extraction: indices, gaps, durations, whole-ms and whole-second rounding."""

from __future__ import annotations

from adaptive.records import CallKind
from adaptive.trie.contexts import extract_llm_contexts, workflow_duration_s

from .support import BASE_NS, call, run


def test_mixed_run() -> None:
    contexts = extract_llm_contexts(
        run(
            [
                call("a", 0, 100, output_tokens=10),
                call("t", 100, 300, kind=CallKind.TOOL),
                call("b", 150.5, 400),
                call("a", 500, 900, output_tokens=5),
                call("a", 950, None),  # never finished: not a context, but still "next LLM"
            ],
            end_ms=1000,
        )
    )
    assert [c.path for c in contexts] == [["a"], ["b"], ["a"]]
    assert [c.call_index for c in contexts] == [1, 1, 2]
    assert [c.remaining_calls for c in contexts] == [2, 1, 0]
    # 150.5 - 100 = 50.5 ms -> 50; 500 - 400 = 100; 950 - 900 = 50 (unfinished call counts).
    assert [c.time_to_next_ms for c in contexts] == [50.0, 100.0, 50.0]
    assert [c.output_tokens for c in contexts] == [10, 0, 5]
    # 400 - 150.5 = 249.5 ms -> 249 ms.
    assert [c.call_duration_s for c in contexts] == [0.1, 0.249, 0.4]
    assert {c.workflow_duration_s for c in contexts} == {1.0}
    assert {c.span_start_time for c in contexts} == {BASE_NS / 1e9}
    assert {c.sensitivity_score for c in contexts} == {0.0}


def test_last_call_has_no_time_to_next_and_negative_gaps_truncate_toward_zero() -> None:
    contexts = extract_llm_contexts(
        run(
            [call("a", 0, 10.7), call("b", 9, 20), call("t", 25, 30, kind=CallKind.TOOL)], end_ms=30
        )
    )
    # 9 - 10.7 = -1.7 ms -> -1 (chrono truncates toward zero, not down to -2).
    assert [c.time_to_next_ms for c in contexts] == [-1.0, None]


def test_workflow_duration_falls_back_to_latest_call_end() -> None:
    contexts = extract_llm_contexts(
        run([call("a", 0, 100), call("t", 50, 2500.9, kind=CallKind.TOOL)], end_ms=None)
    )
    assert contexts[0].workflow_duration_s == 2.5


def test_workflow_duration_zero_without_any_end() -> None:
    assert workflow_duration_s(run([call("a", 0, None)], end_ms=None)) == 0.0


def test_workflow_duration_can_be_negative_like_the_reference() -> None:
    contexts = extract_llm_contexts(
        run([call("a", 0, None), call("b", 5, 6)], end_ms=None, start_ms=10)
    )
    # The latest end (6 ms) is before the run start (10 ms): -4 ms -> -0.004 s.
    assert contexts[0].workflow_duration_s == -0.004


def test_span_times_are_floored_whole_seconds() -> None:
    (context,) = extract_llm_contexts(run([call("a", 999.9, 1000.1)], end_ms=2000))
    assert context.span_start_time == BASE_NS // 10**9
    assert context.span_end_time == BASE_NS // 10**9 + 1


def test_no_llm_calls_no_contexts() -> None:
    assert extract_llm_contexts(run([call("t", 0, 5, kind=CallKind.TOOL)], end_ms=5)) == []
