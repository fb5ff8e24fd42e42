"""The agent side: the drain's batches published to the stream instead of learned here.

``StreamPublisher`` is a ``RunSink``. The drain still assembles runs (cheap)
and batches them from its own task, so NeMo Relay's callbacks and ``emit``
never wait on Redis; a batch becomes one pipelined round trip of XADDs.

**Backpressure.** Publishing is refused (``BacklogFullError``, an outage to
the drain) while the stream holds ``max_backlog`` entries after trimming what
every consumer group acknowledged, and fails the same way while Redis is
down. Either way the drain keeps the runs in its buffer and retries with
backoff (0.1 s doubling to 5 s). When ``drain.max_buffered_runs`` wait, the
``overflow`` policy decides: ``wait`` stops taking events (``emit`` waits;
the NeMo Relay bridge, which never blocks NeMo Relay, holds events in its
backlog), ``drop`` drops new runs, counting and logging them. Whatever is
still buffered or was dropped at ``close()`` is reported by
``RunsNotPublishedError``. Nothing is dropped silently.

A pipeline whose reply was lost may have been applied: the retry publishes
those runs again. Workers store and learn a run once whatever the number of
its copies (runs are idempotent by id), so delivery is at least once.
"""

from __future__ import annotations

import logging
import time

from adaptive.drain import CommitOutcome
from adaptive.errors import AdaptiveError, RunsNotPublishedError, StorageUnavailableError, one_line
from adaptive.metrics import Histogram
from adaptive.records import RunRecord
from adaptive.transport.entry import encode
from adaptive.transport.stream import RunStream
from adaptive.transport.url import TransportTarget, parse_transport_url

logger = logging.getLogger(__name__)


class BacklogFullError(StorageUnavailableError):
    """The stream holds as many unacknowledged entries as allowed; publishing waits."""


class StreamPublisher:
    """Publishes completed runs, one entry each, one pipeline per batch."""

    def __init__(self, target: TransportTarget, *, max_backlog: int = 100_000) -> None:
        self.target = target
        self.max_backlog = max_backlog
        self.stream: RunStream | None = None
        self.stream_length = 0
        """The stream's length after the last publish (or backlog check)."""
        self.runs_published = 0
        self.publishes = 0
        self.backlog_refusals = 0
        self.publish_seconds = Histogram()

    @classmethod
    def from_url(cls, url: str, *, max_backlog: int = 100_000) -> StreamPublisher:
        return cls(parse_transport_url(url), max_backlog=max_backlog)

    async def open(self) -> None:
        """Connect; a Redis that is down now only delays publishing (runs wait in the buffer)."""
        if self.stream is not None:
            return
        try:
            self.stream = await RunStream.open(self.target)
        except StorageUnavailableError as error:
            from adaptive.storage.redis.connection import create_client

            logger.warning(
                "transport %s unreachable at start (%s); runs wait in the buffer until it is back",
                self.target.display,
                one_line(error),
            )
            self.stream = RunStream(
                create_client(self.target.redis_url, key_prefix=self.target.stream), self.target
            )

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.close()
            self.stream = None

    def not_stored_error(
        self, count: int, dropped: int, cause: BaseException | None
    ) -> AdaptiveError:
        return RunsNotPublishedError(count, dropped, self.target.display, cause)

    async def commit(self, batch: list[RunRecord]) -> CommitOutcome:
        """Publish the batch (all of it, or raise an outage for the drain to retry)."""
        stream = self.stream
        if stream is None:
            raise StorageUnavailableError("the transport is not open; start the runtime first")
        started = time.perf_counter()
        try:
            await self._check_backlog(stream)
            self.stream_length = await stream.publish([encode(run) for run in batch])
        finally:
            self.publish_seconds.observe(time.perf_counter() - started)
        self.publishes += 1
        self.runs_published += len(batch)
        return CommitOutcome(published=len(batch))

    async def _check_backlog(self, stream: RunStream) -> None:
        """Refuse while the stream, trimmed to what every group acknowledged, is full."""
        if self.stream_length < self.max_backlog:
            return
        await stream.trim()
        self.stream_length = await stream.length()
        if self.stream_length >= self.max_backlog:
            self.backlog_refusals += 1
            raise BacklogFullError(
                f"stream {self.target.stream!r} at {self.target.display} holds "
                f"{self.stream_length} entries the workers have not acknowledged "
                f"(transport.max_backlog = {self.max_backlog}); are workers running? "
                "runs wait in the local buffer"
            )
