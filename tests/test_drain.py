import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from uuid import uuid4

import pytest

from adaptive.drain import CommitOutcome, Drain, DroppedEvent, RunAccumulator, token_count
from adaptive.errors import RunsNotStoredError, StorageError, StorageUnavailableError
from adaptive.events.model import Event
from adaptive.hot_cache import HotCache
from adaptive.learners.base import LearnerUpdate
from adaptive.records import CallKind, RunRecord
from adaptive.storage.memory import MemoryBackend
from adaptive.storage.protocol import StateReader, UnitOfWork
from tests.factories import Trace

T = TypeVar("T")


def simple_run(trace: Trace, name: str = "planner", tools: Sequence[str] = ("search",)) -> None:
    root = trace.start("agent", name, None)
    for tool in tools:
        uuid = trace.start("tool", tool, root)
        trace.end("tool", tool, uuid, root)
    trace.end("agent", name, root, None)


# -- RunAccumulator ---------------------------------------------------------


def test_run_id_is_root_scope_uuid_and_calls_nest_through_functions() -> None:
    trace = Trace()
    root = trace.start("agent", "planner", None)
    step = trace.start("function", "step", root)
    llm = trace.start(
        "llm", "openai", step, profile={"annotated_request": {"messages": [], "model": "m"}}
    )
    response = {
        "model": "gpt-x",
        "usage": {"completion_tokens": 7, "prompt_tokens": 5, "total_tokens": 12},
        "tool_calls": [{"name": "a"}, {"name": "b"}],
    }
    trace.end("llm", "openai", llm, step, profile={"annotated_response": response})
    tool = trace.start("tool", "search", step)
    trace.end("tool", "search", tool, step)
    trace.end("function", "step", step, root)
    trace.end("agent", "planner", root, None)

    accumulator = RunAccumulator("agent-x")
    runs = [r for e in trace.events if (r := accumulator.process(e)) is not None]

    assert len(runs) == 1
    run = runs[0]
    assert run.id == root
    assert run.agent_id == "agent-x"
    assert run.started_at == trace.events[0].timestamp
    assert run.ended_at == trace.events[-1].timestamp
    llm_call, tool_call = run.calls
    assert llm_call.kind is CallKind.LLM and tool_call.kind is CallKind.TOOL
    assert llm_call.annotated_request == {"messages": [], "model": "m"}
    assert llm_call.annotated_response == response
    assert (llm_call.output_tokens, llm_call.prompt_tokens, llm_call.total_tokens) == (7, 5, 12)
    assert llm_call.model_name == "gpt-x"
    assert llm_call.tool_call_count == 2
    assert tool_call.annotated_request is None and tool_call.ended_at is not None
    assert accumulator.open_run_count == 0
    assert not accumulator.dropped


def test_agent_id_defaults_to_agent_scope_name() -> None:
    trace = Trace()
    simple_run(trace, name="researcher")
    accumulator = RunAccumulator(None)
    runs = [r for e in trace.events if (r := accumulator.process(e)) is not None]
    assert runs[0].agent_id == "researcher"


def test_llm_end_without_usage_leaves_counts_unset() -> None:
    trace = Trace()
    root = trace.start("agent", "a", None)
    llm = trace.start("llm", "openai", root)
    trace.end("llm", "openai", llm, root, profile={"annotated_response": {"usage": None}})
    trace.end("agent", "a", root, None)
    accumulator = RunAccumulator("a")
    (run,) = [r for e in trace.events if (r := accumulator.process(e)) is not None]
    call = run.calls[0]
    assert call.output_tokens is None and call.model_name is None
    assert call.tool_call_count is None
    assert "output_tokens" not in call.to_wire()


def test_end_matches_most_recent_open_call_of_same_name() -> None:
    trace = Trace()
    root = trace.start("agent", "a", None)
    first = trace.start("tool", "search", root)
    second = trace.start("tool", "search", root)
    trace.end("tool", "search", second, root)
    trace.end("tool", "search", first, root)
    trace.end("agent", "a", root, None)
    accumulator = RunAccumulator("a")
    (run,) = [r for e in trace.events if (r := accumulator.process(e)) is not None]
    # NeMo Relay matches by name, newest open call first.
    assert run.calls[1].ended_at == trace.events[3].timestamp
    assert run.calls[0].ended_at == trace.events[4].timestamp


def test_nested_agent_scope_is_a_run_of_its_own() -> None:
    trace = Trace()
    outer = trace.start("agent", "outer", None)
    inner = trace.start("agent", "inner", outer)
    tool = trace.start("tool", "t", inner)
    trace.end("tool", "t", tool, inner)
    trace.end("agent", "inner", inner, outer)
    trace.end("agent", "outer", outer, None)
    accumulator = RunAccumulator(None)
    runs = [r for e in trace.events if (r := accumulator.process(e)) is not None]
    assert [(r.agent_id, len(r.calls)) for r in runs] == [("inner", 1), ("outer", 0)]


def test_events_with_no_open_run_are_counted_and_dropped() -> None:
    trace = Trace()
    stray = trace.start("tool", "t", uuid4())
    trace.end("tool", "t", stray, uuid4())
    trace.end("agent", "ghost", uuid4(), None)
    trace.start("function", "f", uuid4())
    accumulator = RunAccumulator("a")
    assert all(accumulator.process(e) is None for e in trace.events)
    assert accumulator.dropped[DroppedEvent.NO_OPEN_RUN] == 4


def test_unmatched_call_end_and_marks_are_counted() -> None:
    trace = Trace()
    root = trace.start("agent", "a", None)
    trace.end("tool", "never-started", uuid4(), root)
    trace.end("agent", "a", root, None)
    mark = Event(kind="mark", uuid=uuid4(), timestamp=0, name="m")
    accumulator = RunAccumulator("a")
    for event in [*trace.events[:2], mark, trace.events[2]]:
        accumulator.process(event)
    assert accumulator.dropped[DroppedEvent.UNMATCHED_END] == 1
    assert accumulator.dropped[DroppedEvent.NOT_A_SCOPE] == 1


def test_open_runs_are_bounded() -> None:
    trace = Trace()
    roots = [trace.start("agent", "a", None) for _ in range(3)]
    accumulator = RunAccumulator("a", max_open_runs=2)
    for event in trace.events:
        accumulator.process(event)
    assert accumulator.open_run_count == 2
    assert accumulator.dropped[DroppedEvent.ABANDONED_RUN] == 1
    trace.end("agent", "a", roots[0], None)
    assert accumulator.process(trace.events[-1]) is None  # the abandoned one


# -- Drain ------------------------------------------------------------------


class RecordingLearner:
    name = "recording"

    def __init__(self) -> None:
        self.seen: list[list[RunRecord]] = []

    async def learn(
        self, agent_id: str, runs: Sequence[RunRecord], state: StateReader
    ) -> LearnerUpdate:
        self.seen.append(list(runs))
        return LearnerUpdate()


class FailingLearner:
    name = "failing"

    async def learn(
        self, agent_id: str, runs: Sequence[RunRecord], state: StateReader
    ) -> LearnerUpdate:
        raise ValueError("learner bug")


class FlakyBackend(MemoryBackend):
    """A memory backend that is 'down' for its first ``outages`` commits."""

    def __init__(self, outages: int = 0, reject: Callable[[RunRecord], bool] | None = None):
        super().__init__()
        self.outages = outages
        self.attempts = 0
        self.reject = reject

    async def run_unit_of_work(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        self.attempts += 1
        if self.attempts <= self.outages:
            raise StorageUnavailableError("connection refused")

        async def guarded(unit: UnitOfWork) -> T:
            result = await work(unit)
            staged: dict[Any, RunRecord] = unit._new_runs  # type: ignore[attr-defined]
            if self.reject and any(self.reject(run) for run in staged.values()):
                raise StorageError("value too large")
            return result

        return await super().run_unit_of_work(guarded)


def make_drain(backend: MemoryBackend, learners: Sequence[Any] = (), **kw: Any) -> Drain:
    options = {"retry_initial_delay": 0.001, "retry_max_delay": 0.01, **kw}
    return Drain(backend, list(learners), HotCache(), RunAccumulator("a"), **options)


async def test_flush_stores_runs_and_learns_in_batches() -> None:
    trace = Trace()
    for _ in range(10):
        simple_run(trace)
    backend, learner = MemoryBackend(), RecordingLearner()
    drain = make_drain(backend, [learner], batch_size=4)
    drain.start()
    for event in trace.events:
        await drain.put(event)
    await drain.flush()
    assert len(await backend.list_run_ids("a")) == 10
    assert sum(len(batch) for batch in learner.seen) == 10
    assert max(len(batch) for batch in learner.seen) <= 4
    assert drain.stats.runs_stored == 10
    assert drain.pending_events == 0 and drain.pending_runs == 0
    await drain.close()


async def test_a_backlog_is_committed_in_larger_units_up_to_max_batch_size() -> None:
    trace = Trace()
    for _ in range(25):
        simple_run(trace)
    backend, learner = MemoryBackend(), RecordingLearner()
    drain = make_drain(
        backend, [learner], batch_size=4, max_batch_size=10, queue_size=len(trace.events)
    )
    drain.start()
    for event in trace.events:  # all queued before the drain task first runs: a backlog
        drain.put_nowait(event)
    await drain.flush()
    sizes = [len(batch) for batch in learner.seen]
    assert sizes == [4, 10, 10, 1]  # the first unit was due at 4; 21 runs waited behind it
    stored = [run.id for run in await backend.load_runs("a", await backend.list_run_ids("a"))]
    assert stored == [run.id for batch in learner.seen for run in batch]  # completion order
    await drain.close()


def test_max_batch_size_is_never_below_batch_size() -> None:
    assert make_drain(MemoryBackend(), batch_size=64, max_batch_size=8).max_batch_size == 64
    assert make_drain(MemoryBackend(), batch_size=8).max_batch_size == 8


async def test_batch_commits_on_latency_without_flush() -> None:
    trace = Trace()
    simple_run(trace)
    backend = MemoryBackend()
    drain = make_drain(backend, batch_latency=0.01)
    drain.start()
    for event in trace.events:
        drain.put_nowait(event)
    for _ in range(200):
        if await backend.list_run_ids("a"):
            break
        await asyncio.sleep(0.005)
    assert len(await backend.list_run_ids("a")) == 1
    await drain.close()


async def test_reingest_stores_and_learns_nothing_twice() -> None:
    trace = Trace()
    for _ in range(3):
        simple_run(trace)
    backend, learner = MemoryBackend(), RecordingLearner()
    drain = make_drain(backend, [learner])
    drain.start()
    for _ in range(2):
        for event in trace.events:
            await drain.put(event)
        await drain.flush()
    assert len(await backend.list_run_ids("a")) == 3
    assert sum(len(batch) for batch in learner.seen) == 3
    assert drain.stats.runs_duplicate == 3
    await drain.close()


async def test_failing_learner_is_logged_and_does_not_stop_the_drain(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trace = Trace()
    for _ in range(3):
        simple_run(trace)
    backend, learner = MemoryBackend(), RecordingLearner()
    drain = make_drain(backend, [FailingLearner(), learner])
    drain.start()
    for event in trace.events:
        await drain.put(event)
    await drain.flush()
    assert len(await backend.list_run_ids("a")) == 3
    assert sum(len(batch) for batch in learner.seen) == 3
    assert drain.stats.learner_failures["failing"] >= 1
    assert "learner 'failing' failed" in caplog.text
    await drain.close()


async def test_outage_buffers_runs_and_retries_until_stored() -> None:
    trace = Trace()
    for _ in range(5):
        simple_run(trace)
    backend = FlakyBackend(outages=3)
    drain = make_drain(backend)
    drain.start()
    for event in trace.events:
        await drain.put(event)
    await drain.flush()
    assert len(await backend.list_run_ids("a")) == 5
    assert drain.stats.storage_retries == 3
    await drain.close()


async def test_close_fails_loudly_naming_unstored_runs() -> None:
    trace = Trace()
    for _ in range(2):
        simple_run(trace)
    backend = FlakyBackend(outages=10**9)
    drain = make_drain(backend, close_timeout=0.2)
    drain.start()
    for event in trace.events:
        await drain.put(event)
    with pytest.raises(RunsNotStoredError, match="2 completed run"):
        await drain.close()


async def test_rejected_run_does_not_take_the_batch_down() -> None:
    trace = Trace()
    simple_run(trace, tools=["ok"])
    simple_run(trace, tools=["poison"])
    simple_run(trace, tools=["ok"])
    backend = FlakyBackend(reject=lambda run: run.calls[0].name == "poison")
    drain = make_drain(backend)
    drain.start()
    for event in trace.events:
        await drain.put(event)
    await drain.flush()
    stored = await backend.load_runs("a", await backend.list_run_ids("a"))
    assert [run.calls[0].name for run in stored] == ["ok", "ok"]
    assert drain.stats.runs_rejected == 1
    await drain.close()


async def test_full_buffer_pushes_back_on_put() -> None:
    trace = Trace()
    for _ in range(20):
        simple_run(trace, tools=[])
    backend = FlakyBackend(outages=10**9)
    drain = make_drain(backend, queue_size=4, max_buffered_runs=2, batch_size=1)
    drain.start()

    async def feed() -> None:
        for event in trace.events:
            await drain.put(event)

    feeder = asyncio.create_task(feed())
    await asyncio.sleep(0.2)
    assert not feeder.done()  # blocked: 2 runs buffered, queue full
    assert drain.pending_runs == 2
    assert drain.pending_events == 4
    backend.outages = 0
    await asyncio.wait_for(feeder, 5)
    await drain.flush()
    assert len(await backend.list_run_ids("a")) == 20
    await drain.close()


async def test_learner_changes_are_committed_with_runs_and_refresh_cache() -> None:
    from adaptive.learners.tool_parallelism import ToolParallelismLearner

    trace = Trace()
    root = trace.start("agent", "a", None)
    first = trace.start("tool", "fetch", root)
    second = trace.start("tool", "search", root)
    trace.end("tool", "fetch", first, root)
    trace.end("tool", "search", second, root)
    trace.end("agent", "a", root, None)
    backend = MemoryBackend()
    drain = make_drain(backend, [ToolParallelismLearner()])
    drain.start()
    for event in trace.events:
        await drain.put(event)
    await drain.flush()
    plan = await backend.load_plan("a")
    assert plan is not None
    assert [g.tool_names for g in plan.parallel_groups] == [["fetch", "search"]]
    assert drain.hot_cache.plan == plan
    await drain.close()


async def test_put_before_start_is_an_error() -> None:
    drain = make_drain(MemoryBackend())
    with pytest.raises(RuntimeError, match="start"):
        drain.put_nowait(Trace().scope("agent", "start", "a", uuid4(), None))


# -- hostile input: abandonment, invalid numbers, outages that do not end -----


def test_abandoning_a_run_forgets_its_scopes_only() -> None:
    trace = Trace()
    first = trace.start("agent", "a", None)
    inner = trace.start("function", "step", first)
    second = trace.start("agent", "a", None)
    trace.start("tool", "search", second)
    trace.start("agent", "a", None)  # the third start abandons the first run
    trace.start("tool", "late", inner)  # a call under the abandoned run's scope
    trace.end("agent", "a", second, None)
    accumulator = RunAccumulator("a", max_open_runs=2)
    completed = [accumulator.process(event) for event in trace.events]
    assert accumulator.dropped[DroppedEvent.ABANDONED_RUN] == 1
    assert accumulator.dropped[DroppedEvent.NO_OPEN_RUN] == 1  # "late" found no run
    (run,) = [run for run in completed if run is not None]
    assert run.id == second and [call.name for call in run.calls] == ["search"]
    assert accumulator.open_run_count == 1


def test_abandoning_is_constant_time_whatever_the_number_of_open_runs() -> None:
    """Counted in dict operations, not seconds: the old code rebuilt the whole root map."""
    trace = Trace()
    for _ in range(3_000):
        trace.start("agent", "a", None)
    accumulator = RunAccumulator("a", max_open_runs=1_000)
    for event in trace.events:
        accumulator.process(event)
    assert accumulator.dropped[DroppedEvent.ABANDONED_RUN] == 2_000
    assert len(accumulator._roots) == 1_000  # only the open runs' scopes are remembered
    assert len(accumulator._scopes_of) == 1_000


def test_repeated_abandonment_is_logged_once_then_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trace = Trace()
    for _ in range(50):
        trace.start("agent", "a", None)
    accumulator = RunAccumulator("a", max_open_runs=10)
    with caplog.at_level(logging.WARNING, logger="adaptive.drain"):
        for event in trace.events:
            accumulator.process(event)
        accumulator.warnings.summarize()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("abandoned open run")
    assert messages[1] == "abandoned_run: 39 more time(s) since it was last logged (40 in all)"


@pytest.mark.parametrize(
    ("value", "expected", "invalid"),
    [
        (120, 120, False),
        (120.0, 120, False),
        (0, 0, False),
        (2**63 - 1, 2**63 - 1, False),
        (2**63, None, True),
        (1e308, None, True),
        (-5, None, True),
        (12.5, None, True),
        (float("inf"), None, True),
        (float("nan"), None, True),
        (True, None, False),
        ("120", None, False),
        (None, None, False),
    ],
)
def test_token_counts_are_whole_numbers_in_range(
    value: Any, expected: int | None, invalid: bool
) -> None:
    assert token_count(value) == (expected, invalid)


def test_invalid_token_counts_are_dropped_from_the_call_and_counted() -> None:
    trace = Trace()
    root = trace.start("agent", "a", None)
    llm = trace.start("llm", "plan", root)
    usage = {"completion_tokens": -1, "prompt_tokens": float("inf"), "total_tokens": 30}
    trace.end("llm", "plan", llm, root, profile={"annotated_response": {"usage": usage}})
    trace.end("agent", "a", root, None)
    accumulator = RunAccumulator("a")
    (run,) = [run for run in map(accumulator.process, trace.events) if run is not None]
    (call,) = run.calls
    assert (call.output_tokens, call.prompt_tokens, call.total_tokens) == (None, None, 30)
    assert accumulator.invalid["invalid_number"] == 2


async def test_an_outage_longer_than_give_up_after_ends_with_runs_counted_not_stored() -> None:
    trace = Trace()
    for _ in range(3):
        simple_run(trace)
    backend = FlakyBackend(outages=10**9)
    drain = make_drain(backend, give_up_after=0.05)
    drain.start()
    for event in trace.events:
        await drain.put(event)
    await drain.flush()  # returns: the drain gave up instead of retrying forever
    assert drain.stats.runs_not_stored == 3
    assert isinstance(drain.gave_up, StorageUnavailableError)
    await drain.close()  # nothing buffered any more: no RunsNotStoredError


async def test_without_give_up_after_an_outage_is_retried_until_storage_is_back() -> None:
    trace = Trace()
    simple_run(trace)
    backend = FlakyBackend(outages=20)
    drain = make_drain(backend)
    drain.start()
    for event in trace.events:
        await drain.put(event)
    await drain.flush()
    assert drain.stats.runs_not_stored == 0 and drain.gave_up is None
    assert len(await backend.list_run_ids("a")) == 1
    await drain.close()


class SlowSink:
    """A sink whose every commit takes ``seconds``; records the batch sizes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sizes: list[int] = []

    async def commit(self, batch: list[RunRecord]) -> CommitOutcome:
        await asyncio.sleep(self.seconds)
        self.sizes.append(len(batch))
        return CommitOutcome(stored=len(batch))

    def not_stored_error(self, count: int, dropped: int, cause: BaseException | None) -> Any:
        return RunsNotStoredError(count + dropped, cause)


async def test_runs_that_arrive_during_a_commit_wait_for_their_own_latency() -> None:
    """At a trickle, a commit that ends does not start the next with the one or two runs
    that came meanwhile: each unit's fixed cost would then be paid per run."""
    sink = SlowSink(0.1)
    drain = Drain(
        MemoryBackend(), [], HotCache(), RunAccumulator("a"), batch_latency=0.5, sink=sink
    )
    drain.start()
    for _ in range(100):  # one run every 20 ms or more, for over 2 s
        trace = Trace()
        simple_run(trace)
        for event in trace.events:
            await drain.put(event)
        await asyncio.sleep(0.02)
    await drain.close()
    assert sum(sink.sizes) == 100
    assert len(sink.sizes) <= 6, sink.sizes  # one unit per 0.6 s; back to back: one per 0.1 s
