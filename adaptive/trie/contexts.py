"""Per-LLM-call facts extracted from a finished run, the trie learner's input.

Every difference is taken in whole milliseconds truncated toward zero and
span times in whole seconds, because that is what NeMo Relay's builder uses
(chrono ``num_milliseconds`` and ``timestamp``); finer values would change
the learned state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from adaptive.records import CallKind, CallRecord, RunRecord
from adaptive.timestamps import whole_millis_between

_NANOS_PER_SECOND = 1_000_000_000


@dataclass(slots=True)
class LlmCallContext:
    """One completed LLM call with its position and timing inside its run."""

    path: list[str]
    call_index: int
    """1-based count of calls with this name so far in the run."""
    remaining_calls: int
    time_to_next_ms: float | None
    """Start of the next LLM call minus this call's end; ``None`` for the last one."""
    output_tokens: int
    call_duration_s: float
    workflow_duration_s: float
    span_start_time: float
    """Whole seconds since the epoch (floored), as chrono's ``timestamp()``."""
    span_end_time: float
    parallel_slack_ratio: float = 0.0
    sensitivity_score: float = field(default=0.0)


def _whole_seconds(nanos: int) -> float:
    return float(nanos // _NANOS_PER_SECOND)


def _seconds_between(start_ns: int, end_ns: int) -> float:
    return whole_millis_between(start_ns, end_ns) / 1000.0


def workflow_duration_s(run: RunRecord) -> float:
    """Run end minus start, else the latest call end minus start, else 0."""
    if run.ended_at is not None:
        return _seconds_between(run.started_at, run.ended_at)
    call_ends = [call.ended_at for call in run.calls if call.ended_at is not None]
    if not call_ends:
        return 0.0
    return _seconds_between(run.started_at, max(call_ends))


def _time_to_next_llm_ms(calls: list[CallRecord], after: int, ended_at: int) -> float | None:
    """Gap to the next LLM call's start, scanning all later calls (finished or not)."""
    for later in islice(calls, after + 1, None):
        if later.kind == CallKind.LLM:
            return float(whole_millis_between(ended_at, later.started_at))
    return None


def extract_llm_contexts(run: RunRecord) -> list[LlmCallContext]:
    """Contexts for the run's completed LLM calls, in call order."""
    workflow_s = workflow_duration_s(run)
    completed = [
        (position, call)
        for position, call in enumerate(run.calls)
        if call.kind == CallKind.LLM and call.ended_at is not None
    ]
    calls_per_name: dict[str, int] = {}
    contexts: list[LlmCallContext] = []
    for llm_position, (call_position, call) in enumerate(completed):
        ended_at = call.ended_at
        assert ended_at is not None  # filtered above
        call_index = calls_per_name.get(call.name, 0) + 1
        calls_per_name[call.name] = call_index
        contexts.append(
            LlmCallContext(
                path=[call.name],
                call_index=call_index,
                remaining_calls=len(completed) - llm_position - 1,
                time_to_next_ms=_time_to_next_llm_ms(run.calls, call_position, ended_at),
                output_tokens=call.output_tokens or 0,
                call_duration_s=_seconds_between(call.started_at, ended_at),
                workflow_duration_s=workflow_s,
                span_start_time=_whole_seconds(call.started_at),
                span_end_time=_whole_seconds(ended_at),
            )
        )
    return contexts
