"""Domain exceptions: each says what went wrong and what the user can do."""

from __future__ import annotations


class AdaptiveError(Exception):
    """Base class for every error this package raises on purpose."""


class ConfigError(AdaptiveError):
    """The configuration cannot be used as given."""


class StorageError(AdaptiveError):
    """A storage backend rejected an operation for a reason retrying will not fix."""


class StorageUnavailableError(StorageError):
    """The backend cannot be reached right now; the operation may succeed later."""


class StorageFullError(StorageUnavailableError):
    """The backend's disk or quota is full: writes may succeed once space is freed."""


class RunsNotStoredError(AdaptiveError):
    """Shutdown could not store every completed run."""

    def __init__(self, count: int, cause: BaseException | None = None) -> None:
        self.count = count
        detail = f": last error: {cause}" if cause is not None else ""
        super().__init__(
            f"{count} completed run(s) could not be stored before shutdown{detail}. "
            "Check that the storage backend is reachable and ingest the trace again; "
            "ingest is idempotent by run id."
        )


class RunsNotPublishedError(RunsNotStoredError):
    """Shutdown could not publish every completed run to the transport (none of them is stored)."""

    def __init__(
        self, count: int, dropped: int, stream: str, cause: BaseException | None = None
    ) -> None:
        self.count = count + dropped
        self.unpublished = count
        self.dropped = dropped
        parts = []
        if count:
            parts.append(f"{count} completed run(s) could not be published to {stream}")
        if dropped:
            parts.append(f"{dropped} run(s) were dropped while the local buffer was full")
        detail = f": last error: {cause}" if cause is not None else ""
        AdaptiveError.__init__(
            self,
            f"{' and '.join(parts)} before shutdown{detail}. They were not stored; check that "
            "Redis is reachable and workers are running (drain.max_buffered_runs, "
            "transport.max_backlog and transport.overflow bound what waits).",
        )


class MaintenanceQueueFullError(AdaptiveError):
    """The background maintenance queue already holds its limit of unfinished jobs."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        super().__init__(
            f"background maintenance queue is full (limit {capacity} unfinished jobs). "
            "Await submit() to wait for room, flush() the queue, or give it a larger capacity."
        )


class MaintenanceQueueClosedError(AdaptiveError):
    """A job was submitted to a background maintenance queue after close()."""

    def __init__(self) -> None:
        super().__init__(
            "background maintenance queue is closed and takes no more jobs; "
            "submit before close(), or create a new queue."
        )


class MaintenanceJobsFailedError(AdaptiveError):
    """Background maintenance jobs raised; a flush reports each failure exactly once.

    ``failures`` pairs each failed job (its sequence key, as text) with what it
    raised, in submission order; a job cancelled by an aborted queue carries
    ``asyncio.CancelledError``.
    """

    def __init__(self, failures: list[tuple[str, BaseException]]) -> None:
        self.failures = tuple(failures)
        listed = "; ".join(f"{job}: {error!r}" for job, error in self.failures)
        super().__init__(
            f"{len(self.failures)} background maintenance job(s) failed: {listed}. "
            "Their work was not done; fix the cause and submit them again."
        )

    @property
    def errors(self) -> tuple[BaseException, ...]:
        return tuple(error for _, error in self.failures)


def one_line(error: BaseException, limit: int = 300) -> str:
    """An error's message on one line, cut to ``limit`` characters (drivers print pages)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(text: str, limit: int = 80) -> str:
    """A value from the input in a message: quoted and cut, as it may be 20 kB or hold newlines."""
    shown = repr(text[:limit])
    return shown if len(text) <= limit else f"{shown}… ({len(text):,} characters)"
