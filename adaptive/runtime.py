"""AdaptiveRuntime: config → backend → hot cache → drain with learners."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from adaptive.config import (
    AdaptiveConfig,
    AdaptiveHintsConfig,
    OverflowPolicy,
    ToolParallelismMode,
)
from adaptive.drain import Drain, RunAccumulator, RunSink
from adaptive.events.model import Event
from adaptive.hot_cache import HotCache
from adaptive.intercepts.agent_hints import AgentHintsInjector
from adaptive.intercepts.cohort_gate import CohortGate, LocalCohortGate
from adaptive.intercepts.warm_first import WarmFirstIntercept
from adaptive.learners import Learner, build_learners
from adaptive.maintenance import BackgroundMaintenanceQueue, MaintenanceSequenceKey
from adaptive.storage.factory import create_backend
from adaptive.storage.protocol import StorageBackend

if TYPE_CHECKING:
    from adaptive.cache import ResponseCache
    from adaptive.metrics import MetricsServer, RuntimeMetrics
    from adaptive.transport.notify import CommitListener
    from adaptive.transport.publisher import StreamPublisher

logger = logging.getLogger(__name__)


HOT_CACHE_REFRESH = "refresh_hot_cache"

EventSource = Callable[[], Awaitable[None]]
"""Hands every event its source has already emitted to the runtime (a bridge's flush)."""


def cohort_gate_for(backend: StorageBackend) -> CohortGate:
    """Cluster-wide gates when the backend can share them (Redis, tiered), else in-process."""
    shared = getattr(backend, "cohort_gate", None)
    gate = shared() if callable(shared) else None
    return gate if gate is not None else LocalCohortGate()


class AdaptiveRuntime:
    """Owns one backend, one hot cache and one drain for the life of a process.

    Use as ``async with AdaptiveRuntime(config) as runtime:``; ``emit`` events,
    ``wait_for_idle`` to let learning catch up, and leave the block (or call
    ``close``) to store everything still buffered.

    The hot path reads ``warm_first`` (tool scheduling) and ``agent_hints``
    (LLM request hints); both see only the in-process hot cache. Background
    work (hot-cache refreshes, events a bridge could not hand over at once)
    runs on ``maintenance``, which ``close`` drains before the drain itself.
    A bridge registers itself as an event source, so that ``wait_for_idle``
    first collects what its runtime (NeMo Relay) emitted but had not yet
    delivered. ``response_cache`` is the response cache a bridge registered
    (its ``savings`` say what it saved), if the config has one.

    With ``transport.url`` set, completed runs are published to workers
    (``adaptive worker``) instead of learned here (``transport``), and the hot
    cache follows the workers' commit notices. ``metrics.registry`` holds this
    runtime's Prometheus metrics; ``metrics.port`` serves them.
    """

    def __init__(
        self,
        config: AdaptiveConfig | None = None,
        *,
        backend: StorageBackend | None = None,
        learners: Sequence[Learner] | None = None,
    ) -> None:
        self.config = config if config is not None else AdaptiveConfig()
        self.backend = backend if backend is not None else create_backend(self.config.backend)
        self.learners = list(learners) if learners is not None else build_learners(self.config)
        self.hot_cache = HotCache()
        self.transport: StreamPublisher | None = None
        self._listener: CommitListener | None = None
        self._metrics_server: MetricsServer | None = None
        self._metrics: RuntimeMetrics | None = None
        sink: RunSink | None = None
        if self.config.transport.url is not None:
            from adaptive.transport.publisher import StreamPublisher

            self.transport = StreamPublisher.from_url(
                self.config.transport.url, max_backlog=self.config.transport.max_backlog
            )
            sink = self.transport
        drain_config = self.config.drain
        latency_ms = drain_config.batch_latency_ms
        if self.transport is not None:
            latency_ms = self.config.transport.publish_latency_ms
        self.drain = Drain(
            self.backend,
            self.learners,
            self.hot_cache,
            RunAccumulator(self.config.agent_id, max_open_runs=drain_config.max_open_runs),
            batch_size=drain_config.batch_size,
            max_batch_size=drain_config.max_batch_size,
            batch_latency=latency_ms / 1000,
            queue_size=drain_config.queue_size,
            max_buffered_runs=drain_config.max_buffered_runs,
            close_timeout=drain_config.close_timeout_s,
            give_up_after=drain_config.give_up_after_s,
            sink=sink,
            drop_when_full=self.config.transport.overflow is OverflowPolicy.DROP,
        )
        tools = self.config.tool_parallelism
        self.warm_first = WarmFirstIntercept(
            self.hot_cache, tools.mode if tools is not None else ToolParallelismMode.OBSERVE_ONLY
        )
        self.agent_hints = AgentHintsInjector(
            self.hot_cache,
            self.config.adaptive_hints or AdaptiveHintsConfig(),
            scale=self.config.sensitivity_scale,
        )
        self.maintenance = BackgroundMaintenanceQueue()
        self.response_cache: ResponseCache | None = None
        self._event_sources: list[EventSource] = []
        self._started = False

    async def start(self) -> None:
        """Open the backend, seed the hot cache from it, start the drain."""
        if self._started:
            return
        await self.backend.open()
        if self.maintenance.closed:  # started again after close()
            self.maintenance = BackgroundMaintenanceQueue()
        self.warm_first.gate = cohort_gate_for(self.backend)
        if self.config.agent_id is not None:
            await self.seed_hot_cache(self.config.agent_id)
        await self._start_transport()
        self.drain.start()
        self._started = True
        if self.config.metrics.port is not None:
            await self.serve_metrics(self.config.metrics.port, self.config.metrics.host)

    async def _start_transport(self) -> None:
        """Connect the publisher, and follow the workers' commits for our agent."""
        if self.transport is None:
            return
        await self.transport.open()
        agent_id = self.config.agent_id
        if agent_id is not None:
            from adaptive.transport.notify import CommitListener

            interval = self.config.transport.refresh_interval_ms / 1000
            self._listener = CommitListener(self, self.transport.target, agent_id, interval)
            await self._listener.start()

    @property
    def metrics(self) -> RuntimeMetrics:
        """This runtime's Prometheus metrics (``.registry`` to mount in your own server)."""
        if self._metrics is None:
            from adaptive.metrics import RuntimeMetrics

            self._metrics = RuntimeMetrics(self)
        return self._metrics

    async def serve_metrics(self, port: int = 0, host: str = "127.0.0.1") -> MetricsServer:
        """Serve ``GET /metrics`` on ``host:port`` until ``close()`` (port 0: any free one)."""
        from adaptive.metrics import MetricsServer

        if self._metrics_server is None:
            self._metrics_server = await MetricsServer(self.metrics.registry, host, port).start()
        return self._metrics_server

    async def refresh_hot_cache(self) -> None:
        """Queue a re-seed of the hot cache from the backend (what other processes learned).

        Runs in the background; ``maintenance.flush(purpose="refresh_hot_cache")``
        waits for it and raises its error, if any.
        """
        agent_id = self.config.agent_id
        if agent_id is None:
            return
        key = MaintenanceSequenceKey(agent_id, agent_id, HOT_CACHE_REFRESH)
        await self.maintenance.submit(key, lambda: self.seed_hot_cache(agent_id))

    async def seed_hot_cache(self, agent_id: str) -> None:
        """Load what the backend already learned for an agent into the hot cache."""
        from adaptive.trie import compute_default_hints

        cache = self.hot_cache
        cache.plan = await self.backend.load_plan(agent_id)
        envelope = await self.backend.load_trie(agent_id)
        if envelope is not None:
            cache.trie = envelope.root
            cache.agent_hints_default = compute_default_hints(
                envelope.root, self.config.sensitivity_scale
            )
        aggregate = await self.backend.load_stability(agent_id)
        if aggregate is not None:
            cache.acg_stability = aggregate
            cache.acg_observation_count = aggregate.total_observations
        cache.refreshed_at = time.monotonic()

    async def emit(self, event: Event) -> None:
        """Hand an event to the drain; waits only while its queue is full."""
        await self.drain.put(event)

    def emit_nowait(self, event: Event) -> None:
        """Hand an event to the drain without waiting (``asyncio.QueueFull`` if full)."""
        self.drain.put_nowait(event)

    def add_event_source(self, flush: EventSource) -> None:
        """Have ``wait_for_idle`` call ``flush`` first (a bridge's events still in transit)."""
        self._event_sources.append(flush)

    def remove_event_source(self, flush: EventSource) -> None:
        if flush in self._event_sources:
            self._event_sources.remove(flush)

    async def wait_for_idle(self) -> None:
        """Wait until every event emitted so far is learned from and stored.

        "Emitted" includes events an attached runtime (NeMo Relay) emitted but
        had not yet delivered: each event source is flushed first.
        """
        for flush in list(self._event_sources):
            await flush()
        await self.drain.flush()

    async def close(self) -> None:
        """Flush and stop the drain, then close the backend.

        Background work queued before is finished first. Raises
        ``RunsNotStoredError`` when completed runs could not be stored, and
        ``MaintenanceJobsFailedError`` when background jobs failed unreported.
        """
        if not self._started:
            return
        self._started = False
        try:
            await self.maintenance.close()
        finally:
            try:
                await self.drain.close()
            finally:
                self.drain.warnings.summarize()
                self.drain.accumulator.warnings.summarize()
                await self._close_extras()
                await self.backend.close()

    async def _close_extras(self) -> None:
        """The commit listener, the publisher's connection and the metrics server."""
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self.transport is not None:
            await self.transport.close()
        if self._metrics_server is not None:
            await self._metrics_server.close()
            self._metrics_server = None

    async def __aenter__(self) -> AdaptiveRuntime:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
