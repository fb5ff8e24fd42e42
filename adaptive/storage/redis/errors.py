"""Redis and connection errors → the storage errors the drain acts on.

The drain keeps runs and retries later on ``StorageUnavailableError`` and sets
a batch aside on any other ``StorageError``. So everything that says "the
server cannot take this right now" (connection lost, timeout, loading,
read-only replica after a failover, out of memory, cluster resharding, a slot
moving away mid-transaction, a cluster none of whose seeds answers) is
unavailable, and only errors about the data itself are rejections. A watched
key changed by another writer is ``ConcurrentUpdateError``: the unit of work
runs again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from redis import exceptions as redis_errors

from adaptive.errors import StorageError, StorageUnavailableError

UNAVAILABLE: Final = (
    redis_errors.ConnectionError,  # also authentication, busy loading, pool exhausted
    redis_errors.TimeoutError,
    redis_errors.InvalidResponse,
    redis_errors.ReadOnlyError,
    redis_errors.OutOfMemoryError,
    redis_errors.TryAgainError,
    redis_errors.ClusterError,  # also cluster down, primary down
    redis_errors.AskError,  # also MOVED: the slot moved while a transaction held it
    redis_errors.SlotNotCoveredError,
    OSError,
    TimeoutError,
)


class ConcurrentUpdateError(StorageUnavailableError):
    """A key this unit of work watched changed before it committed; run the unit again.

    A subclass of ``StorageUnavailableError`` so that code which lets outages
    through (learners, the drain) lets this through too, up to the retry loop.
    """


def short(text: str) -> str:
    """A user-supplied id or key cut to a loggable length."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


@contextmanager
def translated_errors(action: str, server: str) -> Iterator[None]:
    """Re-raise Redis and connection errors inside the block as storage errors.

    ``action`` says what was being done (naming the key), ``server`` is the
    URL without its password. Other errors (a learner's bug, a cancellation)
    pass through untouched.
    """
    try:
        yield
    except StorageError:
        raise
    except redis_errors.WatchError as error:
        raise ConcurrentUpdateError(f"concurrent update while {action}: {error}") from error
    except UNAVAILABLE as error:
        raise StorageUnavailableError(
            f"redis at {server} unavailable while {action}: {_detail(error)}"
        ) from error
    except redis_errors.CrossSlotTransactionError as error:
        raise StorageError(f"redis at {server} rejected {action}: {_detail(error)}") from error
    except redis_errors.RedisClusterException as error:  # discovery: no seed answered, ...
        raise StorageUnavailableError(
            f"redis cluster at {server} unavailable while {action}: {_detail(error)}"
        ) from error
    except (redis_errors.RedisError, UnicodeError) as error:
        raise StorageError(f"redis at {server} rejected {action}: {_detail(error)}") from error


def _detail(error: BaseException) -> str:
    message = str(error).strip()
    return (message.splitlines()[0] if message else type(error).__name__)[:500]
