"""Background maintenance: bounded, ordered per key, flushable by scope and purpose (seed 004).

Work that must not delay the hot path (learning from a run, seeding the hot
cache, persisting state) goes to a ``BackgroundMaintenanceQueue``. Jobs that
share a ``MaintenanceSequenceKey`` run one at a time in submission order,
because each usually builds on what the previous one wrote; jobs with
different keys run concurrently, up to ``max_concurrency`` at once.

Evaluation and shutdown paths call ``flush`` to wait for the work they depend
on, narrowed to one scope and/or purpose when the rest may keep running. A
job's failure is kept until a flush covering it raises it, so errors never
vanish in a background task, and each is raised by one flush only.

The queue is bounded like the seed's: it holds at most ``capacity`` unfinished
jobs. ``submit_nowait`` mirrors the seed's ``spawn`` and raises
``MaintenanceQueueFullError`` when full; ``submit`` is the asyncio way and
waits for room instead, which pushes back on a producer that outruns the jobs.
A finished job never counts against the capacity, even while its failure
waits to be reported.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from adaptive.errors import (
    MaintenanceJobsFailedError,
    MaintenanceQueueClosedError,
    MaintenanceQueueFullError,
)

DEFAULT_CAPACITY = 16
"""The seed's default limit of unfinished jobs."""

MaintenanceJob = Callable[[], Awaitable[object]]
"""What to run, e.g. an ``async def`` taking no arguments; its result is ignored.

The queue takes a factory rather than a coroutine so that a job it rejects or
drops on abort leaves no never-awaited coroutine behind.
"""


@dataclass(frozen=True, slots=True)
class MaintenanceSequenceKey:
    """Identity of a job; jobs with equal keys run strictly in submission order.

    ``agent_id`` is the agent the work belongs to, ``scope_id`` the actor,
    session, run or resource it touches, and ``purpose`` what kind of work it
    is (``"learn"``, ``"seed_hot_cache"``, ``"persist"``, a ``StrEnum``...).
    The seed calls the purpose ``task_kind``.
    """

    agent_id: str
    scope_id: str
    purpose: str

    def __str__(self) -> str:
        return f"agent {self.agent_id!r}, scope {self.scope_id!r}, purpose {self.purpose!r}"


@dataclass(eq=False, slots=True)
class _Job:
    seq: int
    """Submission number: orders failures and tells a flush which jobs came before it."""
    key: MaintenanceSequenceKey
    work: MaintenanceJob
    done: asyncio.Future[None]
    """Resolved however the job ends, so flushes can wait without seeing its error."""


_KeyFilter = Callable[[MaintenanceSequenceKey], bool]


def _key_filter(scope_id: str | None, purpose: str | None) -> _KeyFilter:
    def matches(key: MaintenanceSequenceKey) -> bool:
        return (scope_id is None or key.scope_id == scope_id) and (
            purpose is None or key.purpose == purpose
        )

    return matches


def _being_cancelled() -> bool:
    """True when the running task was asked to stop (as opposed to a job raising on its own)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class BackgroundMaintenanceQueue:
    """Bounded queue of background jobs, ordered per key and flushable by scope/purpose.

    Each key with work has one worker task, which runs that key's jobs in
    order and ends when none are left, so an idle queue holds no tasks.
    ``close()`` (or leaving ``async with``) stops taking jobs, runs the queued
    ones and raises the failures not yet reported; cancelling it aborts
    instead. A failure is kept (with its traceback) until a flush or close
    raises it. Not thread-safe: use it from the event loop that runs its jobs.
    """

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, *, max_concurrency: int | None = None
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1 or None, got {max_concurrency}")
        self.capacity = capacity
        self.max_concurrency = min(max_concurrency or capacity, capacity)
        self._submitted = 0
        self._unfinished: dict[int, _Job] = {}
        self._backlogs: dict[MaintenanceSequenceKey, deque[_Job]] = {}
        self._workers: dict[MaintenanceSequenceKey, asyncio.Task[None]] = {}
        self._failures: dict[int, tuple[MaintenanceSequenceKey, BaseException]] = {}
        self._running = asyncio.Semaphore(self.max_concurrency)
        self._room = asyncio.Event()
        self._closed = False
        self._aborting = False

    # -- state ----------------------------------------------------------------

    def __len__(self) -> int:
        """Jobs queued or running."""
        return len(self._unfinished)

    @property
    def is_full(self) -> bool:
        return len(self._unfinished) >= self.capacity

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def unreported_failures(self) -> int:
        """Failed jobs whose error no flush has raised yet."""
        return len(self._failures)

    # -- submitting -------------------------------------------------------------

    async def submit(self, key: MaintenanceSequenceKey, job: MaintenanceJob) -> None:
        """Queue ``job`` under ``key``, waiting while the queue is full (backpressure).

        Cancelling the wait queues nothing. Raises ``MaintenanceQueueClosedError``
        if the queue is closed, also when that happens during the wait.
        """
        self._require_open()
        while self.is_full:
            self._room.clear()
            await self._room.wait()
            self._require_open()
        self._admit(key, job)

    def submit_nowait(self, key: MaintenanceSequenceKey, job: MaintenanceJob) -> None:
        """Queue ``job`` under ``key`` now; raises ``MaintenanceQueueFullError`` when full."""
        self._require_open()
        if self.is_full:
            raise MaintenanceQueueFullError(self.capacity)
        self._admit(key, job)

    def _require_open(self) -> None:
        if self._closed:
            raise MaintenanceQueueClosedError()

    def _admit(self, key: MaintenanceSequenceKey, work: MaintenanceJob) -> None:
        """Append the job to its key's backlog, starting a worker if the key had none."""
        job = _Job(self._submitted, key, work, asyncio.get_running_loop().create_future())
        self._submitted += 1
        self._unfinished[job.seq] = job
        backlog = self._backlogs.get(key)
        if backlog is not None:
            backlog.append(job)
            return
        self._backlogs[key] = deque([job])
        self._workers[key] = asyncio.create_task(
            self._work_through(key), name=f"adaptive-maintenance({key})"
        )

    # -- running ----------------------------------------------------------------

    async def _work_through(self, key: MaintenanceSequenceKey) -> None:
        """Run ``key``'s jobs one at a time in submission order; end when none are left.

        The backlog is checked and retired without an await in between, so a
        job submitted for this key either lands in this backlog or, once it is
        retired, starts a new worker.
        """
        backlog = self._backlogs[key]
        try:
            while backlog and not self._aborting:
                await self._run(backlog.popleft())
        finally:
            self._retire(key)

    async def _run(self, job: _Job) -> None:
        """Run one job and record how it ended; only the worker's own cancellation escapes.

        A ``CancelledError`` the job raises on its own (the worker was not
        cancelled) is the job's failure like any other, so the key's later jobs
        still run.
        """
        try:
            async with self._running:
                await job.work()
        except Exception as error:
            self._finish(job, error)
        except BaseException as error:
            self._finish(job, error)
            if not isinstance(error, asyncio.CancelledError) or _being_cancelled():
                raise
        else:
            self._finish(job, None)

    def _finish(self, job: _Job, error: BaseException | None) -> None:
        """Free the job's capacity, keep its failure for a flush, wake whoever waits."""
        del self._unfinished[job.seq]
        if error is not None:
            self._failures[job.seq] = (job.key, error)
        job.done.set_result(None)
        self._room.set()

    def _retire(self, key: MaintenanceSequenceKey) -> None:
        """Forget the key's worker; jobs still in its backlog (only on abort) never ran."""
        self._workers.pop(key, None)
        for job in self._backlogs.pop(key, ()):
            self._finish(job, asyncio.CancelledError("background maintenance was aborted"))

    # -- flushing and closing -----------------------------------------------------

    async def flush(self, *, scope_id: str | None = None, purpose: str | None = None) -> None:
        """Wait for the matching jobs submitted before this call, then raise their failures.

        Without filters it covers every job (the seed's ``flush_all``); with
        ``scope_id`` and/or ``purpose`` only jobs whose key has them (the seed's
        ``flush_scope``, ``flush_purpose``, ``flush_scope_purpose``), and other
        work keeps running unwaited. Failures of covered jobs that are not yet
        reported are raised as one ``MaintenanceJobsFailedError``, including
        those of jobs that had already finished. They are claimed only after
        the wait, so a cancelled flush loses none: a later flush reports them.
        """
        if asyncio.current_task() in self._workers.values():
            raise RuntimeError("flush() inside a maintenance job would wait for that job itself")
        matches = _key_filter(scope_id, purpose)
        horizon = self._submitted
        waiting = [job.done for job in self._unfinished.values() if matches(job.key)]
        if waiting:
            await asyncio.wait(waiting)
        self._raise_failures(horizon, matches)

    async def close(self) -> None:
        """Stop taking jobs, run every queued one, then raise the failures not yet reported.

        Waiting ``submit`` calls fail with ``MaintenanceQueueClosedError``.
        Cancelling ``close`` (for instance with ``asyncio.timeout``) aborts:
        running jobs are cancelled, queued ones are dropped, and every worker
        task has ended before the cancellation propagates. Calling it again is
        harmless.
        """
        self._closed = True
        self._room.set()
        try:
            while self._workers:
                await asyncio.wait(list(self._workers.values()))
        except asyncio.CancelledError:
            await self._abort()
            raise
        self._raise_failures(self._submitted, _key_filter(None, None))

    async def _abort(self) -> None:
        """Close, cancel every worker and wait until all have ended.

        A worker cancelled before its first step never runs its ``finally``,
        so the keys still listed afterwards are retired here.
        """
        self._closed = True
        self._aborting = True
        self._room.set()
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        if workers:
            await asyncio.wait(workers)
        for key in list(self._backlogs):
            self._retire(key)

    def _raise_failures(self, horizon: int, matches: _KeyFilter) -> None:
        """Claim and raise the unreported failures of matching jobs submitted before ``horizon``."""
        claimed = sorted(
            seq for seq, (key, _) in self._failures.items() if seq < horizon and matches(key)
        )
        if not claimed:
            return
        failures = [self._failures.pop(seq) for seq in claimed]
        errors = [error for _, error in failures]
        raise MaintenanceJobsFailedError(
            [(str(key), error) for key, error in failures]
        ) from BaseExceptionGroup("background maintenance job failures", errors)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close on the way out; abort when the block was cancelled or interrupted.

        A cancelled block should not wait for the backlog. If the block raised
        an ordinary exception and jobs failed too, the jobs' error is raised
        with the block's as its ``__context__``.
        """
        if exc is not None and not isinstance(exc, Exception):
            await self._abort()
            return
        await self.close()
