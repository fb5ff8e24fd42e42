"""Prometheus metrics, read from the counters the runtime and the worker already keep.

Nothing here is global: each ``AdaptiveRuntime`` and each worker owns a
``CollectorRegistry`` with one collector that reads its stats when scraped,
so counting costs the hot path nothing beyond an integer increment, and two
runtimes in one process never share a series. ``prometheus_client`` is
imported only when a registry is asked for; ``Histogram`` (the commit
latencies the drain records) is plain Python.

``MetricsServer`` serves a registry over HTTP (``GET /metrics``) on the
runtime's own event loop; an application with its own server mounts
``runtime.metrics.registry`` there instead.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from adaptive.drain import DrainStats
    from adaptive.runtime import AdaptiveRuntime

logger = logging.getLogger(__name__)

LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Seconds; a unit of work takes ~5 ms on Redis to ~1 s for a 256-run unit on PostgreSQL."""
REQUEST_TIMEOUT_S: Final = 5.0
MAX_REQUEST_BYTES: Final = 16 * 1024


@dataclass
class Histogram:
    """Cumulative-bucket latency histogram, cheap to observe, exported as a Prometheus one."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    """Observations per bucket (not cumulative); the last one is +Inf."""
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, observations at or below it), ending with +Inf."""
        running, result = 0, []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            result.append(("+Inf" if bound == math.inf else repr(bound), running))
        return result


class Families:
    """Builds metric families for one scrape (a thin layer over ``prometheus_client``)."""

    def __init__(self, prefix: str = "adaptive_") -> None:
        from prometheus_client import metrics_core

        self._core = metrics_core
        self.prefix = prefix
        self.families: list[Metric] = []

    def counter(self, name: str, documentation: str, value: float) -> None:
        self.families.append(
            self._core.CounterMetricFamily(self.prefix + name, documentation, value=value)
        )

    def labelled_counter(
        self, name: str, documentation: str, label: str, values: Mapping[str, float]
    ) -> None:
        family = self._core.CounterMetricFamily(self.prefix + name, documentation, labels=[label])
        for key, value in sorted(values.items()):
            family.add_metric([key], value)
        self.families.append(family)

    def gauge(self, name: str, documentation: str, value: float | None) -> None:
        shown = math.nan if value is None else value
        self.families.append(
            self._core.GaugeMetricFamily(self.prefix + name, documentation, value=shown)
        )

    def histogram(self, name: str, documentation: str, histogram: Histogram) -> None:
        self.families.append(
            self._core.HistogramMetricFamily(
                self.prefix + name,
                documentation,
                buckets=histogram.cumulative(),
                sum_value=histogram.total,
            )
        )


class _Collector:
    """A custom collector: ``describe`` is empty so registering it never runs ``collect``."""

    def __init__(self, produce: Callable[[Families], None]) -> None:
        self._produce = produce

    def collect(self) -> Iterable[Metric]:
        families = Families()
        self._produce(families)
        return families.families

    def describe(self) -> Iterable[Metric]:
        return []


def registry_for(produce: Callable[[Families], None]) -> CollectorRegistry:
    """A registry of its own whose one collector calls ``produce`` at each scrape."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(produce))
    return registry


class MetricsServer:
    """``GET /metrics`` for one registry, served on the running event loop."""

    def __init__(self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0):
        self.registry = registry
        self.host = host
        self.requested_port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> MetricsServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.requested_port)
        return self

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        if self._server is None:
            raise RuntimeError("the metrics server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
            status, content_type, body = self._respond(head[:MAX_REQUEST_BYTES])
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, content_type, body = "400 Bad Request", "text/plain", b"bad request\n"
        except Exception:
            logger.exception("metrics scrape failed")
            status, content_type, body = "500 Internal Server Error", "text/plain", b"error\n"
        header = (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(header.encode() + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _respond(self, head: bytes) -> tuple[str, str, bytes]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        method, _, rest = head.decode("latin-1").partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if method not in ("GET", "HEAD") or path not in ("/metrics", "/"):
            return "404 Not Found", "text/plain", b"try GET /metrics\n"
        body = generate_latest(self.registry) if method == "GET" else b""
        return "200 OK", CONTENT_TYPE_LATEST, body


def scrape(registry: CollectorRegistry) -> dict[str, Any]:
    """Every sample of a registry by name (with labels), for tests and the command line."""
    samples: dict[str, Any] = {}
    for family in registry.collect():
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def drain_families(families: Families, stats: DrainStats) -> None:
    """What a drain (or a worker's units of work) counted."""
    families.counter("runs_stored", "Runs stored (new) by units of work.", stats.runs_stored)
    families.counter(
        "runs_already_stored",
        "Runs a unit of work found already stored (redelivered or re-ingested).",
        stats.runs_duplicate,
    )
    families.counter(
        "runs_rejected", "Runs the backend rejected (not stored).", stats.runs_rejected
    )
    families.counter("units", "Units of work committed.", stats.batches)
    families.histogram(
        "unit_commit_seconds", "Duration of each unit of work (commit included).",
        stats.commit_seconds,
    )  # fmt: skip
    families.counter(
        "retries", "Commits (or publishes) retried after an outage.", stats.storage_retries
    )
    families.labelled_counter(
        "learner_failures", "Learner failures (runs stored, learner state unchanged).",
        "learner", stats.learner_failures,
    )  # fmt: skip


class RuntimeMetrics:
    """The metrics of one ``AdaptiveRuntime``; ``registry`` is its own ``CollectorRegistry``."""

    def __init__(self, runtime: AdaptiveRuntime) -> None:
        self.runtime = runtime
        self.registry = registry_for(self._produce)

    def _produce(self, families: Families) -> None:
        runtime = self.runtime
        stats = runtime.drain.stats
        families.counter("events_received", "Events taken by the drain.", stats.events)
        families.counter("runs_completed", "Runs assembled from events.", stats.runs_completed)
        families.counter(
            "runs_published", "Runs published to the transport (learned by workers).",
            stats.runs_published,
        )  # fmt: skip
        families.counter(
            "runs_dropped", "Runs dropped while the buffer was full (overflow = drop).",
            stats.runs_dropped,
        )  # fmt: skip
        drain_families(families, stats)
        families.gauge(
            "buffered_runs", "Completed runs waiting to be stored or published.",
            runtime.drain.pending_runs,
        )  # fmt: skip
        families.gauge(
            "queued_events", "Events queued for the drain.", runtime.drain.pending_events
        )
        refreshed = runtime.hot_cache.refreshed_at
        families.gauge(
            "hot_cache_age_seconds", "Seconds since the hot cache was last refreshed.",
            None if refreshed is None else time.monotonic() - refreshed,
        )  # fmt: skip
        publisher = runtime.transport
        if publisher is not None:
            families.histogram(
                "publish_seconds", "Duration of each publish (one pipeline per batch).",
                publisher.publish_seconds,
            )  # fmt: skip
            families.gauge(
                "stream_length", "Stream entries after the last publish.",
                publisher.stream_length,
            )  # fmt: skip
            families.counter(
                "backlog_refusals", "Publishes refused because the stream backlog was full.",
                publisher.backlog_refusals,
            )  # fmt: skip
        listener = runtime._listener
        if listener is not None:
            families.counter(
                "commit_notices", "Commit notices received from workers.", listener.notices
            )
            families.counter(
                "hot_cache_refreshes", "Hot-cache refreshes after commit notices.",
                listener.refreshes,
            )  # fmt: skip
