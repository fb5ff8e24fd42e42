"""Background maintenance queue: per-key order, backpressure, selective flush, errors, close.

Jobs block on ``asyncio.Event``s the tests open, so nothing depends on timing;
``yield_to_loop`` only lets ready tasks take their turns before checking that
something is still waiting. Waits the code under test could get wrong run
under ``within`` so that a bug fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from adaptive.errors import (
    AdaptiveError,
    MaintenanceJobsFailedError,
    MaintenanceQueueClosedError,
    MaintenanceQueueFullError,
)
from adaptive.maintenance import BackgroundMaintenanceQueue, MaintenanceSequenceKey

T = TypeVar("T")


def key(
    scope_id: str = "s1", purpose: str = "learn", agent_id: str = "agent"
) -> MaintenanceSequenceKey:
    return MaintenanceSequenceKey(agent_id=agent_id, scope_id=scope_id, purpose=purpose)


async def within(awaitable: Awaitable[T], seconds: float = 1.0) -> T:
    """Await, failing the test rather than hanging it when the wait never ends."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def yield_to_loop(turns: int = 10) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


def background_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}


def recorder(log: list[str], entry: str) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        log.append(entry)

    return job


def failing(error: BaseException) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        raise error

    return job


async def noop() -> None:
    pass


def test_capacity_and_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        BackgroundMaintenanceQueue(0)
    with pytest.raises(ValueError, match="max_concurrency"):
        BackgroundMaintenanceQueue(4, max_concurrency=0)


def test_domain_errors_are_adaptive_errors() -> None:
    for error in (
        MaintenanceQueueFullError,
        MaintenanceQueueClosedError,
        MaintenanceJobsFailedError,
    ):
        assert issubclass(error, AdaptiveError)


# -- per-key ordering ---------------------------------------------------------------------


async def test_same_key_jobs_run_one_at_a_time_in_order_while_keys_run_concurrently() -> None:
    queue = BackgroundMaintenanceQueue(capacity=32, max_concurrency=3)
    keys = [key(scope_id=f"s{n}") for n in range(5)]
    started: defaultdict[MaintenanceSequenceKey, list[int]] = defaultdict(list)
    running: Counter[MaintenanceSequenceKey] = Counter()
    most_per_key = 0
    most_at_once = 0

    def job(k: MaintenanceSequenceKey, index: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            nonlocal most_per_key, most_at_once
            running[k] += 1
            most_per_key = max(most_per_key, running[k])
            most_at_once = max(most_at_once, running.total())
            started[k].append(index)
            await yield_to_loop(3)
            running[k] -= 1

        return run

    for index in range(6):
        for k in keys:
            await queue.submit(k, job(k, index))
    await within(queue.flush())

    assert {k: started[k] for k in keys} == {k: list(range(6)) for k in keys}
    assert most_per_key == 1
    assert most_at_once == 3  # different keys overlap, up to max_concurrency
    assert background_tasks() == set()


async def test_a_blocked_job_holds_back_only_its_own_key() -> None:
    queue = BackgroundMaintenanceQueue()
    gate = asyncio.Event()
    log: list[str] = []

    async def slow_first() -> None:
        log.append("a1 start")
        await gate.wait()
        log.append("a1 end")

    queue.submit_nowait(key("a"), slow_first)
    queue.submit_nowait(key("a"), recorder(log, "a2"))
    queue.submit_nowait(key("b"), recorder(log, "b1"))
    await within(queue.flush(scope_id="b"))
    assert log == ["a1 start", "b1"]

    gate.set()
    await within(queue.flush())
    assert log == ["a1 start", "b1", "a1 end", "a2"]


# -- capacity and backpressure ------------------------------------------------------------


async def test_submit_nowait_refuses_a_job_when_full_like_the_seed() -> None:
    queue = BackgroundMaintenanceQueue(capacity=2)
    gate = asyncio.Event()
    queue.submit_nowait(key("a"), gate.wait)
    queue.submit_nowait(key("b"), gate.wait)
    assert queue.is_full
    assert len(queue) == 2

    with pytest.raises(MaintenanceQueueFullError, match="limit 2"):
        queue.submit_nowait(key("c"), noop)

    gate.set()
    await within(queue.flush())
    assert not queue.is_full
    assert len(queue) == 0
    queue.submit_nowait(key("c"), noop)
    await within(queue.flush())


async def test_a_finished_failed_job_frees_its_place_and_still_fails_the_flush() -> None:
    """Seed: finished_task_error_surfaces_on_flush_after_capacity_check."""
    queue = BackgroundMaintenanceQueue(capacity=1)
    finished = asyncio.Event()

    async def fails() -> None:
        finished.set()
        raise RuntimeError("background failed")

    queue.submit_nowait(key(), fails)
    await within(finished.wait())
    assert not queue.is_full
    assert queue.unreported_failures == 1

    with pytest.raises(MaintenanceJobsFailedError, match="background failed"):
        await within(queue.flush())


async def test_submit_waits_while_full_and_queues_once_there_is_room() -> None:
    queue = BackgroundMaintenanceQueue(capacity=1)
    gate = asyncio.Event()
    log: list[str] = []
    queue.submit_nowait(key(), gate.wait)

    submitting = asyncio.create_task(queue.submit(key(), recorder(log, "second")))
    await yield_to_loop()
    assert not submitting.done()
    assert len(queue) == 1

    gate.set()
    await within(submitting)
    await within(queue.flush())
    assert log == ["second"]


async def test_a_cancelled_submit_queues_nothing() -> None:
    queue = BackgroundMaintenanceQueue(capacity=1)
    gate = asyncio.Event()
    log: list[str] = []
    queue.submit_nowait(key(), gate.wait)

    submitting = asyncio.create_task(queue.submit(key(), recorder(log, "never")))
    await yield_to_loop()
    submitting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await submitting

    gate.set()
    await within(queue.flush())
    assert log == []
    assert len(queue) == 0


# -- selective flush ----------------------------------------------------------------------

KEYS = [
    key("s1", "learn", agent_id="a"),
    key("s1", "persist", agent_id="b"),
    key("s2", "learn", agent_id="a"),
    key("s2", "persist", agent_id="a"),
]


@pytest.mark.parametrize(
    ("filters", "matching"),
    [
        ({}, KEYS),
        ({"scope_id": "s1"}, KEYS[:2]),
        ({"purpose": "learn"}, [KEYS[0], KEYS[2]]),
        ({"scope_id": "s1", "purpose": "learn"}, [KEYS[0]]),
    ],
    ids=["all", "scope", "purpose", "scope+purpose"],
)
async def test_flush_waits_for_matching_jobs_only(
    filters: dict[str, str], matching: list[MaintenanceSequenceKey]
) -> None:
    queue = BackgroundMaintenanceQueue()
    gates = {k: asyncio.Event() for k in KEYS}
    for k in KEYS:
        queue.submit_nowait(k, gates[k].wait)

    flushing = asyncio.create_task(queue.flush(**filters))
    await yield_to_loop()
    assert not flushing.done()

    for k in matching:
        gates[k].set()
    await within(flushing)  # times out if it waits for a job that does not match
    assert len(queue) == len(KEYS) - len(matching)  # unmatched work keeps running

    for gate in gates.values():
        gate.set()
    await within(queue.flush())
    assert len(queue) == 0


async def test_flush_ignores_jobs_submitted_after_it_started() -> None:
    queue = BackgroundMaintenanceQueue()
    first, later = asyncio.Event(), asyncio.Event()
    queue.submit_nowait(key("s1"), first.wait)
    flushing = asyncio.create_task(queue.flush())
    await yield_to_loop()

    queue.submit_nowait(key("s2"), later.wait)
    queue.submit_nowait(key("s3"), failing(ValueError("later failure")))
    await yield_to_loop()
    first.set()
    await within(flushing)  # neither waits for s2 nor reports s3's failure
    assert len(queue) == 1

    later.set()
    with pytest.raises(MaintenanceJobsFailedError, match="later failure"):
        await within(queue.flush())


# -- errors -------------------------------------------------------------------------------


async def test_a_failure_is_raised_by_one_flush_and_other_jobs_still_run() -> None:
    queue = BackgroundMaintenanceQueue()
    log: list[str] = []
    boom = ValueError("boom")
    queue.submit_nowait(key("s1"), failing(boom))
    queue.submit_nowait(key("s1"), recorder(log, "same key, after the failure"))
    queue.submit_nowait(key("s2"), recorder(log, "other key"))

    with pytest.raises(MaintenanceJobsFailedError) as raised:
        await within(queue.flush())
    assert raised.value.failures == ((str(key("s1")), boom),)
    assert "scope 's1'" in str(raised.value)
    assert isinstance(raised.value.__cause__, ExceptionGroup)
    assert raised.value.__cause__.exceptions == (boom,)
    assert sorted(log) == ["other key", "same key, after the failure"]

    await within(queue.flush())  # reported once
    assert queue.unreported_failures == 0


async def test_every_failure_is_reported_in_submission_order() -> None:
    queue = BackgroundMaintenanceQueue()
    gate = asyncio.Event()
    first, second = ValueError("first"), KeyError("second")

    async def fails_late() -> None:
        await gate.wait()
        raise first

    queue.submit_nowait(key("s1"), fails_late)
    queue.submit_nowait(key("s2"), failing(second))  # finishes first
    await yield_to_loop()
    gate.set()

    with pytest.raises(MaintenanceJobsFailedError) as raised:
        await within(queue.flush())
    assert raised.value.errors == (first, second)


async def test_a_selective_flush_reports_only_its_own_failures() -> None:
    queue = BackgroundMaintenanceQueue()
    in_s1, in_s2 = ValueError("s1 failed"), ValueError("s2 failed")
    queue.submit_nowait(key("s1", "learn"), failing(in_s1))
    queue.submit_nowait(key("s2", "persist"), failing(in_s2))

    await within(queue.flush(scope_id="s1", purpose="persist"))  # nothing matches
    with pytest.raises(MaintenanceJobsFailedError) as raised:
        await within(queue.flush(purpose="persist"))
    assert raised.value.errors == (in_s2,)
    with pytest.raises(MaintenanceJobsFailedError) as raised:
        await within(queue.flush())
    assert raised.value.errors == (in_s1,)


async def test_a_cancelled_flush_loses_no_failure() -> None:
    queue = BackgroundMaintenanceQueue()
    gate = asyncio.Event()

    async def fails_late() -> None:
        await gate.wait()
        raise ValueError("late")

    queue.submit_nowait(key(), fails_late)
    flushing = asyncio.create_task(queue.flush())
    await yield_to_loop()
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing

    gate.set()
    with pytest.raises(MaintenanceJobsFailedError, match="late"):
        await within(queue.flush())


async def test_a_job_cancelling_itself_fails_alone_and_its_key_goes_on() -> None:
    queue = BackgroundMaintenanceQueue()
    log: list[str] = []
    queue.submit_nowait(key(), failing(asyncio.CancelledError()))
    queue.submit_nowait(key(), recorder(log, "next"))

    with pytest.raises(MaintenanceJobsFailedError) as raised:
        await within(queue.flush())
    assert [type(error) for error in raised.value.errors] == [asyncio.CancelledError]
    assert log == ["next"]
    assert background_tasks() == set()


async def test_flush_inside_a_job_fails_instead_of_deadlocking() -> None:
    queue = BackgroundMaintenanceQueue()

    async def flushes() -> None:
        await queue.flush()

    queue.submit_nowait(key(), flushes)
    with pytest.raises(MaintenanceJobsFailedError, match="wait for that job itself"):
        await within(queue.flush())


# -- close --------------------------------------------------------------------------------


async def test_close_runs_the_backlog_then_refuses_work() -> None:
    queue = BackgroundMaintenanceQueue(max_concurrency=1)
    gate = asyncio.Event()
    log: list[str] = []

    async def slow() -> None:
        await gate.wait()
        log.append("running")

    queue.submit_nowait(key("s1"), slow)
    queue.submit_nowait(key("s1"), recorder(log, "queued behind it"))
    queue.submit_nowait(key("s2"), recorder(log, "waiting for a slot"))
    closing = asyncio.create_task(queue.close())
    await yield_to_loop()
    assert not closing.done()
    assert queue.closed

    with pytest.raises(MaintenanceQueueClosedError):
        queue.submit_nowait(key(), noop)
    with pytest.raises(MaintenanceQueueClosedError):
        await queue.submit(key(), noop)

    gate.set()
    await within(closing)
    assert sorted(log) == ["queued behind it", "running", "waiting for a slot"]
    assert len(queue) == 0
    assert background_tasks() == set()


async def test_close_turns_away_submitters_waiting_for_room() -> None:
    queue = BackgroundMaintenanceQueue(capacity=1)
    gate = asyncio.Event()
    queue.submit_nowait(key(), gate.wait)
    submitting = asyncio.create_task(queue.submit(key(), noop))
    await yield_to_loop()

    closing = asyncio.create_task(queue.close())
    with pytest.raises(MaintenanceQueueClosedError):
        await within(submitting)
    gate.set()
    await within(closing)


async def test_close_raises_unreported_failures_once() -> None:
    queue = BackgroundMaintenanceQueue()
    queue.submit_nowait(key(), failing(ValueError("unreported")))
    with pytest.raises(MaintenanceJobsFailedError, match="unreported"):
        await within(queue.close())
    await within(queue.close())


async def test_async_with_closes_the_queue_and_leaves_no_task() -> None:
    log: list[str] = []
    async with BackgroundMaintenanceQueue() as queue:
        for n in range(3):
            queue.submit_nowait(key(f"s{n}"), recorder(log, f"job {n}"))
    assert sorted(log) == ["job 0", "job 1", "job 2"]
    assert queue.closed
    assert background_tasks() == set()


async def test_async_with_raises_job_failures_on_exit() -> None:
    with pytest.raises(MaintenanceJobsFailedError, match="on exit"):
        async with BackgroundMaintenanceQueue() as queue:
            queue.submit_nowait(key(), failing(ValueError("on exit")))


def hanging_job(started: asyncio.Event, log: list[str]) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            log.append("cancelled")
            raise

    return job


async def test_cancelling_close_aborts_running_and_queued_jobs() -> None:
    queue = BackgroundMaintenanceQueue(max_concurrency=1)
    started = asyncio.Event()
    log: list[str] = []
    queue.submit_nowait(key("s1"), hanging_job(started, log))
    queue.submit_nowait(key("s1"), recorder(log, "never: same key"))
    queue.submit_nowait(key("s2"), recorder(log, "never: no slot"))
    await within(started.wait())

    closing = asyncio.create_task(queue.close())
    await yield_to_loop()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await within(closing)

    assert log == ["cancelled"]
    assert len(queue) == 0
    assert background_tasks() == set()
    with pytest.raises(MaintenanceQueueClosedError):
        queue.submit_nowait(key(), noop)
    with pytest.raises(MaintenanceJobsFailedError) as raised:  # the dropped jobs are not hidden
        await within(queue.close())
    assert [type(error) for error in raised.value.errors] == [asyncio.CancelledError] * 3


async def test_a_cancelled_async_with_block_aborts_without_draining() -> None:
    started = asyncio.Event()
    log: list[str] = []

    async def body() -> None:
        async with BackgroundMaintenanceQueue() as queue:
            queue.submit_nowait(key(), hanging_job(started, log))
            await asyncio.Event().wait()

    task = asyncio.create_task(body())
    await within(started.wait())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await within(task)
    assert log == ["cancelled"]
    assert background_tasks() == set()


async def test_aborting_before_workers_start_drops_their_jobs_cleanly() -> None:
    queue = BackgroundMaintenanceQueue()
    log: list[str] = []
    with pytest.raises(asyncio.CancelledError):
        async with queue:
            queue.submit_nowait(key("s1"), recorder(log, "never"))
            queue.submit_nowait(key("s2"), recorder(log, "never"))
            raise asyncio.CancelledError  # no await: the workers have not run yet
    assert log == []
    assert len(queue) == 0
    assert queue.unreported_failures == 2
    assert background_tasks() == set()
