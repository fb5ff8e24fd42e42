"""``adaptive worker`` as a process: backend, stream, worker, metrics, signals.

The worker learns with the learners and drain batching of its config (the
same ``[telemetry]``, ``[acg]`` and ``[drain]`` tables the agents use) and
commits into its backend; SIGTERM and SIGINT stop it cleanly (the batch in
hand is committed and acknowledged first).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from contextlib import suppress

from adaptive.config import AdaptiveConfig
from adaptive.errors import ConfigError
from adaptive.metrics import MetricsServer, registry_for
from adaptive.transport.stream import RunStream
from adaptive.transport.url import parse_transport_url
from adaptive.transport.worker import Worker, WorkerSettings, WorkerStats, new_learning_sink

logger = logging.getLogger(__name__)


def settings_from(config: AdaptiveConfig, consumer: str | None = None) -> WorkerSettings:
    """Unit sizes from ``[drain]``; latency, claiming and dead letters from ``[transport]``."""
    drain, transport = config.drain, config.transport
    settings = WorkerSettings(
        batch_size=drain.batch_size,
        max_batch_size=max(drain.batch_size, drain.max_batch_size),
        batch_latency=transport.worker_batch_latency_ms / 1000,
        claim_idle=transport.claim_idle_s,
        max_deliveries=transport.max_deliveries,
        stop_timeout=drain.close_timeout_s,
    )
    if consumer:
        settings.consumer = consumer
    return settings


async def serve(
    config: AdaptiveConfig,
    *,
    consumer: str | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    ready: Callable[[Worker, MetricsServer | None], None] | None = None,
) -> WorkerStats:
    """Run one worker until SIGTERM/SIGINT; what it did."""
    from adaptive.learners import build_learners
    from adaptive.storage.factory import create_backend

    url = config.transport.url
    if url is None:
        raise ConfigError(
            "adaptive worker needs a transport: --transport redis+streams://host:6379/0"
            "?stream=adaptive:runs, [transport] url in the config, or ADAPTIVE_TRANSPORT"
        )
    target = parse_transport_url(url)
    sink = new_learning_sink(create_backend(config.backend), build_learners(config))
    await sink.backend.open()
    try:
        stream = await RunStream.open(target)
        try:
            worker = Worker(stream, sink, settings_from(config, consumer))
            return await _run(worker, metrics_port, metrics_host, ready)
        finally:
            await stream.close()
    finally:
        sink.warnings.summarize()
        await sink.backend.close()


async def _run(
    worker: Worker,
    metrics_port: int | None,
    metrics_host: str,
    ready: Callable[[Worker, MetricsServer | None], None] | None,
) -> WorkerStats:
    server = None
    if metrics_port is not None:
        server = await MetricsServer(
            registry_for(worker.metric_families), metrics_host, metrics_port
        ).start()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    try:
        if ready is not None:
            ready(worker, server)
        await worker.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
        if server is not None:
            await server.close()
    return worker.stats


def announce_ready(worker: Worker, server: MetricsServer | None) -> None:
    """The start line on stderr: who reads what, and where the metrics are."""
    target = worker.stream.target
    where = f"; metrics on {server.url}" if server is not None else ""
    sys.stderr.write(
        f"adaptive worker {worker.consumer}: stream {target.stream!r} group {target.group!r} "
        f"on {target.display}{where}\n"
    )
    sys.stderr.flush()
