"""Commit notices: workers announce, agent processes refresh their hot cache.

After each unit of work commits, a worker publishes a notice on the agent's
channel (``{stream}:committed:{agent_id}``, Redis pub/sub). An agent process
subscribed to it re-seeds its hot cache from the backend
(``AdaptiveRuntime.seed_hot_cache``), at most once per ``interval``: a burst
of notices costs one refresh at its start and one at its end.

**Staleness.** What a worker committed reaches the hot path after the notice
(a round trip), the wait for the interval (at most ``interval``, 250 ms by
default) and the re-seed (three reads from the backend), so under 1 s with
the defaults; runs themselves reach a worker after the drain's batch latency
(``drain.batch_latency_ms``) plus the worker's. Pub/sub does not queue: a
notice sent while this process is cut off from Redis is lost, so the
listener refreshes once whenever its subscription is made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Final

from adaptive.errors import one_line
from adaptive.log_limits import CountedWarnings
from adaptive.transport.url import TransportTarget

if TYPE_CHECKING:
    from adaptive.runtime import AdaptiveRuntime

logger = logging.getLogger(__name__)

RECONNECT_DELAY_S: Final = 0.5
POLL_TIMEOUT_S: Final = 0.25
"""The listener checks for ``close()`` this often. It is never cancelled mid-read: redis-py
(8.1) can then hang for good disconnecting the pub/sub connection."""
CLOSE_TIMEOUT_S: Final = 2.0


def notice(runs: int) -> bytes:
    """What a worker announces: how many new runs it committed, and when (epoch ms)."""
    return json.dumps({"runs": runs, "at_ms": int(time.time() * 1000)}).encode()


class CommitListener:
    """Keeps one runtime's hot cache following what workers commit for its agent."""

    def __init__(
        self, runtime: AdaptiveRuntime, target: TransportTarget, agent_id: str, interval: float
    ) -> None:
        self.runtime = runtime
        self.target = target
        self.agent_id = agent_id
        self.interval = interval
        self.notices = 0
        self.refreshes = 0
        self.refresh_failures = 0
        self.warnings = CountedWarnings(logger)
        self._wanted = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._last_refresh = float("-inf")
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Subscribe in the background (a Redis that is down only delays the first refresh)."""
        self._tasks = [
            asyncio.create_task(self._listen(), name="adaptive-commit-listener"),
            asyncio.create_task(self._refresh_loop(), name="adaptive-hot-cache-refresh"),
        ]

    async def wait_subscribed(self) -> None:
        """Until the subscription is in place (tests and benchmarks; never needed in use)."""
        await self._subscribed.wait()

    async def close(self) -> None:
        """Stop listening (within ``POLL_TIMEOUT_S``) and refreshing."""
        self._stopping.set()
        if not self._tasks:
            return
        listener, *others = self._tasks
        self._tasks = []
        for task in others:
            task.cancel()
        done, _ = await asyncio.wait({listener}, timeout=POLL_TIMEOUT_S + CLOSE_TIMEOUT_S)
        if not done:
            listener.cancel()
        if others:
            await asyncio.wait(others, timeout=CLOSE_TIMEOUT_S)
        self.warnings.summarize()

    async def _listen(self) -> None:
        from adaptive.storage.redis.connection import create_client

        client = create_client(self.target.redis_url, key_prefix=self.target.stream)
        try:
            while not self._stopping.is_set():
                try:
                    await self._subscribe_and_read(client)
                except Exception as error:  # redis-py's errors, OSError, ...: never give up
                    self._lost(error, unexpected=not _is_redis_error(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), RECONNECT_DELAY_S)
        finally:
            await _bounded(client.aclose())

    async def _subscribe_and_read(self, client: Any) -> None:
        if getattr(client, "initialize", None) is not None:  # a cluster: find the nodes first
            await client.initialize()
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self.target.channel(self.agent_id))
            self._subscribed.set()
            self._wanted.set()  # notices sent before (or while cut off) are lost: catch up
            while not self._stopping.is_set():
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=POLL_TIMEOUT_S
                )
                if message is not None and message.get("type") == "message":
                    self.notices += 1
                    self._wanted.set()
        finally:
            self._subscribed.clear()
            await _bounded(pubsub.aclose())

    def _lost(self, error: BaseException, *, unexpected: bool = False) -> None:
        self.warnings.warn(
            "commit_notices_lost",
            "commit notices from %s interrupted (%s); resubscribing, the hot cache is "
            "refreshed once subscribed again; further interruptions are counted",
            self.target.display,
            one_line(error),
            exc_info=unexpected,
        )

    async def _refresh_loop(self) -> None:
        while True:
            await self._wanted.wait()
            delay = self._last_refresh + self.interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._wanted.clear()
            self._last_refresh = time.monotonic()
            try:
                await self.runtime.seed_hot_cache(self.agent_id)
            except Exception as error:
                self.refresh_failures += 1
                self.warnings.warn(
                    "hot_cache_refresh_failed",
                    "hot cache refresh after a commit notice failed (%s); retrying after the "
                    "next notice; further failures are counted",
                    one_line(error),
                )
            else:
                self.refreshes += 1


async def _bounded(closing: Any) -> None:
    """Await a close, at most ``CLOSE_TIMEOUT_S`` (see there); its errors are moot."""
    try:
        await asyncio.wait_for(closing, CLOSE_TIMEOUT_S)
    except (TimeoutError, Exception):
        logger.debug("closing a pub/sub connection did not finish cleanly", exc_info=True)


def _is_redis_error(error: BaseException) -> bool:
    from redis.exceptions import RedisError

    return isinstance(error, RedisError | OSError)
