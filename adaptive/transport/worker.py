"""The worker side: read runs from the stream, learn and commit them, then acknowledge.

A worker is one consumer of the stream's consumer group; any number run on
any hosts. Each loop it takes a batch — entries idle too long in other
workers' hands first (``XAUTOCLAIM``), else new entries, gathered up to
``batch_size`` or ``batch_latency`` like the drain — and commits it through
``LearningSink``, the drain's own units of work, one unit per agent (two
workers on two agents then never wait on each other's per-agent lock).

**Delivery.** An entry is acknowledged only after its run's unit committed,
so a worker that dies leaves its entries pending and another claims them
after ``claim_idle``: at least once. Runs are idempotent by id (copies in one
batch are merged, a run stored before is not learned again), so each run is
stored and learned once. While a worker holds entries (a long unit, a
storage outage) it renews them, so that only a dead or stalled worker's
entries are claimed.

**Dead letters.** An entry that cannot be decoded is moved to the
dead-letter stream at once (it never will decode). A run the backend rejects
is left pending with its reason recorded; it is claimed again after
``claim_idle``, and an entry delivered ``max_deliveries`` times without
being committed (rejected each time, or its workers died holding it) is
moved to the dead-letter stream with the last reason, and acknowledged. A
storage outage is not a failure: the unit is retried with backoff.

**Stopping.** ``stop()`` (SIGTERM) lets the batch in hand finish: its units
commit, its entries are acknowledged, then the worker leaves. If storage is
down it waits ``stop_timeout`` at most, leaving what is uncommitted pending
for another worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from adaptive.drain import CommitOutcome, DrainStats, LearningSink
from adaptive.errors import StorageUnavailableError, one_line
from adaptive.log_limits import CountedWarnings
from adaptive.records import RunRecord
from adaptive.transport.entry import UndecodableEntryError, decode
from adaptive.transport.notify import notice
from adaptive.transport.stream import Delivery, GroupFigures, RunStream, StreamId

if TYPE_CHECKING:
    from adaptive.learners import Learner
    from adaptive.metrics import Families
    from adaptive.storage.protocol import StorageBackend

logger = logging.getLogger(__name__)


def default_consumer_name() -> str:
    """Unique per process and host, readable in XINFO CONSUMERS."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class WorkerSettings:
    """How a worker batches, claims, retries and stops."""

    consumer: str = field(default_factory=default_consumer_name)
    batch_size: int = 64
    max_batch_size: int = 256
    batch_latency: float = 0.05
    claim_idle: float = 30.0
    max_deliveries: int = 5
    read_block: float = 0.5
    """Longest wait on an empty stream before checking for claims and stop."""
    trim_interval: float = 1.0
    retry_initial_delay: float = 0.1
    retry_max_delay: float = 5.0
    stop_timeout: float = 30.0

    @property
    def claim_idle_ms(self) -> int:
        return max(1, round(self.claim_idle * 1000))

    @property
    def claim_check_interval(self) -> float:
        """How often to look for idle entries when the last look found none."""
        return min(max(self.claim_idle / 2, 0.05), 5.0)


@dataclass
class WorkerStats:
    """What a worker did; the drain's counters cover its units of work."""

    units: DrainStats = field(default_factory=DrainStats)
    entries_read: int = 0
    entries_claimed: int = 0
    entries_acknowledged: int = 0
    dead_letters: int = 0
    failures_recorded: int = 0
    copies_merged: int = 0
    """Entries whose run was already in the same batch (published twice)."""
    figures: GroupFigures | None = None
    """The stream's length, lag and pending entries, as of the last trim."""


class Worker:
    """One consumer of the stream, committing through ``LearningSink``."""

    def __init__(
        self, stream: RunStream, sink: LearningSink, settings: WorkerSettings | None = None
    ) -> None:
        self.stream = stream
        self.sink = sink
        self.settings = settings if settings is not None else WorkerSettings()
        self.stats = WorkerStats(units=sink.stats)
        self.warnings = sink.warnings
        self._stopping = asyncio.Event()
        self._stop_deadline = float("inf")
        self._next_claim = 0.0
        self._next_trim = 0.0

    @property
    def consumer(self) -> str:
        return self.settings.consumer

    def stop(self) -> None:
        """Finish the batch in hand, acknowledge it, and leave (the SIGTERM handler)."""
        if not self._stopping.is_set():
            self._stop_deadline = time.monotonic() + self.settings.stop_timeout
            self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """Consume until ``stop()``."""
        await self._with_retry("joining the consumer group", self.stream.ensure_group)
        while not self.stopping:
            try:
                batch = await self._next_batch()
                if batch:
                    await self._process(batch)
                await self._maybe_trim()
            except StorageUnavailableError as error:
                self._outage(error)
                await self._pause(self.settings.retry_max_delay / 5)
        with suppress(StorageUnavailableError):
            await self.stream.delete_consumer_if_idle(self.consumer)

    # -- taking a batch ------------------------------------------------------------------

    async def _next_batch(self) -> list[Delivery]:
        claimed = await self._claim_if_due()
        if claimed:
            return claimed
        settings = self.settings
        batch = await self.stream.read_new(
            self.consumer, settings.max_batch_size, _ms(settings.read_block)
        )
        deadline = time.monotonic() + settings.batch_latency
        while batch and len(batch) < settings.batch_size and not self.stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = await self.stream.read_new(
                self.consumer, settings.max_batch_size - len(batch), _ms(remaining)
            )
            if not more:
                break
            batch += more
        self.stats.entries_read += len(batch)
        return batch

    async def _claim_if_due(self) -> list[Delivery]:
        now = time.monotonic()
        if now < self._next_claim:
            return []
        settings = self.settings
        claimed = await self.stream.claim_stale(
            self.consumer, settings.claim_idle_ms, settings.max_batch_size
        )
        if self.stream.claim_scan_done and len(claimed) < settings.max_batch_size:
            self._next_claim = now + settings.claim_check_interval
        if claimed:
            self.stats.entries_claimed += len(claimed)
            logger.info("claimed %d idle entries from other workers", len(claimed))
        return claimed

    # -- committing a batch ----------------------------------------------------------------

    async def _process(self, batch: list[Delivery]) -> None:
        async with self._renewing([delivery.entry_id for delivery in batch]):
            runnable = await self._dead_letter_exhausted(batch)
            decoded = await self._decode(runnable)
            by_agent: dict[str, list[tuple[Delivery, RunRecord]]] = {}
            for delivery, run in decoded:
                by_agent.setdefault(run.agent_id, []).append((delivery, run))
            for agent_id in sorted(by_agent):
                await self._commit_agent(agent_id, by_agent[agent_id])

    async def _dead_letter_exhausted(self, batch: list[Delivery]) -> list[Delivery]:
        """Move entries delivered more than ``max_deliveries`` times; the others."""
        limit = self.settings.max_deliveries
        exhausted = [delivery for delivery in batch if delivery.deliveries > limit]
        if not exhausted:
            return batch
        reasons = await self.stream.failure_reasons([d.entry_id for d in exhausted])
        for delivery in exhausted:
            reason = reasons.get(delivery.entry_id) or (
                "no worker committed it: the workers holding it died or stalled"
            )
            await self._dead_letter(
                delivery, f"delivered {delivery.deliveries - 1} times without a commit: {reason}"
            )
        return [delivery for delivery in batch if delivery.deliveries <= limit]

    async def _decode(self, batch: list[Delivery]) -> list[tuple[Delivery, RunRecord]]:
        decoded = []
        for delivery in batch:
            try:
                decoded.append((delivery, decode(delivery.fields)))
            except UndecodableEntryError as error:
                await self._dead_letter(delivery, f"undecodable entry: {error}")
        return decoded

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        await self._with_retry(
            "dead-lettering an entry",
            partial(self.stream.dead_letter, delivery, reason, self.consumer),
        )
        self.stats.dead_letters += 1
        self.warnings.warn(
            "dead_letter",
            "entry %s moved to the dead-letter stream %r: %s; further dead letters are counted",
            delivery.entry_id.decode(),
            self.stream.target.dead_letter,
            reason,
        )

    async def _commit_agent(self, agent_id: str, items: list[tuple[Delivery, RunRecord]]) -> None:
        """One unit of work for one agent's runs, then acknowledge and announce."""
        unique: dict[object, RunRecord] = {}
        for _, run in items:
            unique.setdefault(run.id, run)
        self.stats.copies_merged += len(items) - len(unique)
        outcome = await self._commit_with_retry(list(unique.values()))
        if outcome is None:
            return  # stopping during an outage: left pending for another worker
        rejected = {run.id: error for run, error in outcome.rejected}
        done: list[StreamId] = []
        for delivery, run in items:
            error = rejected.get(run.id)
            if error is None:
                done.append(delivery.entry_id)
                continue
            reason = f"rejected by the backend: {one_line(error)}"
            record = partial(self.stream.record_failure, delivery.entry_id, reason)
            await self._with_retry("recording a failure", record)
            self.stats.failures_recorded += 1
        await self._with_retry("acknowledging", partial(self.stream.acknowledge, done))
        self.stats.entries_acknowledged += len(done)
        if outcome.stored:
            await self._announce(agent_id, outcome.stored)

    async def _commit_with_retry(self, runs: list[RunRecord]) -> CommitOutcome | None:
        delay = self.settings.retry_initial_delay
        while True:
            try:
                return await self.sink.commit(runs)
            except StorageUnavailableError as error:
                self.stats.units.storage_retries += 1
                if self.stopping and time.monotonic() >= self._stop_deadline:
                    logger.warning(
                        "stopping with %d run(s) uncommitted (storage unavailable: %s); "
                        "their entries stay pending for another worker",
                        len(runs),
                        one_line(error),
                    )
                    return None
                self._outage(error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_delay)

    async def _announce(self, agent_id: str, stored: int) -> None:
        try:
            await self.stream.announce(agent_id, notice(stored))
        except StorageUnavailableError as error:
            self.warnings.warn(
                "announce_failed",
                "commit notice for agent %.80r not sent (%s); its agents refresh on the next "
                "notice; further failures are counted",
                agent_id,
                one_line(error),
            )

    @asynccontextmanager
    async def _renewing(self, ids: Sequence[StreamId]) -> AsyncIterator[None]:
        """Keep the entries in hand from being claimed while they are worked on."""
        task = asyncio.create_task(self._renew(ids), name="adaptive-worker-renew")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _renew(self, ids: Sequence[StreamId]) -> None:
        every = self.settings.claim_idle / 3
        while True:
            await asyncio.sleep(every)
            try:
                kept = await self.stream.heartbeat(self.consumer, ids)
            except StorageUnavailableError:
                continue
            if len(kept) < len(ids):
                logger.warning(
                    "%d of %d entries in hand were claimed by another worker (this one stalled "
                    "longer than claim_idle); both commit them, runs are stored once",
                    len(ids) - len(kept),
                    len(ids),
                )

    # -- housekeeping ------------------------------------------------------------------

    async def _maybe_trim(self) -> None:
        now = time.monotonic()
        if now < self._next_trim:
            return
        self._next_trim = now + self.settings.trim_interval
        await self.stream.trim()
        self.stats.figures = await self.stream.figures()

    async def _with_retry(self, action: str, operation: Callable[[], Awaitable[object]]) -> None:
        """Redis commands the worker cannot skip (ack, dead letter): retried through outages."""
        delay = self.settings.retry_initial_delay
        while True:
            try:
                await operation()
                return
            except StorageUnavailableError as error:
                if self.stopping and time.monotonic() >= self._stop_deadline:
                    raise
                self._outage(error, delay, action)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_delay)

    def _outage(self, error: BaseException, delay: float = 0.0, action: str = "") -> None:
        self.warnings.warn(
            type(error).__name__,
            "%sunavailable, retrying in %.2fs: %s; further outages are counted",
            f"{action}: " if action else "",
            delay,
            one_line(error),
        )

    async def _pause(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # -- metrics --------------------------------------------------------------------------

    def metric_families(self, families: Families) -> None:
        from adaptive.metrics import drain_families

        stats = self.stats
        families.counter("entries_read", "Stream entries read (new).", stats.entries_read)
        families.counter(
            "entries_claimed", "Stream entries claimed from dead or stalled workers.",
            stats.entries_claimed,
        )  # fmt: skip
        families.counter(
            "entries_acknowledged", "Stream entries acknowledged after their commit.",
            stats.entries_acknowledged,
        )  # fmt: skip
        families.counter(
            "dead_letters", "Entries moved to the dead-letter stream.", stats.dead_letters
        )
        families.counter(
            "entry_failures", "Entries left pending after the backend rejected their run.",
            stats.failures_recorded,
        )  # fmt: skip
        drain_families(families, stats.units)
        figures = stats.figures
        if figures is None:
            return
        families.gauge("stream_length", "Stream entries.", figures.length)
        families.gauge(
            "stream_lag", "Entries not yet delivered to the consumer group.", figures.lag
        )
        families.gauge(
            "stream_pending", "Entries delivered to workers, not yet acknowledged.",
            figures.pending,
        )  # fmt: skip


def _ms(seconds: float) -> int:
    """A BLOCK argument: whole milliseconds, never 0 (which would block forever)."""
    return max(1, round(seconds * 1000))


def new_learning_sink(backend: StorageBackend, learners: Sequence[Learner]) -> LearningSink:
    """A sink with fresh counters (a worker's hot cache is never read: it has no hot path)."""
    from adaptive.hot_cache import HotCache

    return LearningSink(backend, learners, HotCache(), DrainStats(), CountedWarnings(logger))
