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
