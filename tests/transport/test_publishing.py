"""The agent side: backpressure, overflow, outages, the cluster, commit notices, metrics."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import nemo_relay
import pytest

from adaptive.errors import RunsNotPublishedError
from adaptive.events.atof import ReadReport, read_events
from adaptive.metrics import scrape
from adaptive.relay.bridge import RelayBridge
from adaptive.runtime import AdaptiveRuntime
from adaptive.transport.stream import RunStream
from adaptive.transport.url import parse_transport_url
from tests.conftest import ThrowawayRedis
from tests.factories import SAMPLE_TRACE
from tests.relay_agent import AGENT, run_agent
from tests.storage.figures import assert_same_learning, single_process_export
from tests.traces import replicated_trace, write_trace
from tests.transport.conftest import streams_url
from tests.transport.support import (
    StreamView,
    agent_config,
    exported,
    publish_trace,
    start_worker,
    stop_worker,
    stored_run_ids,
    wait_stored,
    wait_until,
    workers,
)

SAMPLE_RUNS = 40


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def emit_sample(runtime: AdaptiveRuntime) -> None:
    for event in read_events(SAMPLE_TRACE, ReadReport()):
        await runtime.emit(event)


async def test_a_full_backlog_pushes_back_and_publishing_resumes_once_acknowledged(
    transport_url: str, sqlite_url: str
) -> None:
    config = agent_config(
        transport_url,
        sqlite_url,
        "planner",
        transport={"max_backlog": 10},
        drain={"batch_size": 4, "max_batch_size": 4, "max_buffered_runs": 8, "queue_size": 16},
    )
    async with AdaptiveRuntime(config) as runtime:
        emitting = asyncio.create_task(emit_sample(runtime))
        await asyncio.sleep(2)
        assert not emitting.done()  # no worker acknowledges: emit waits (policy "wait")
        view = StreamView(transport_url)
        assert view.length() <= 10 + 4  # the bound, overshot by one batch at most
        assert runtime.transport is not None and runtime.transport.backlog_refusals > 0
        assert runtime.drain.pending_runs == 8
        stream = await RunStream.open(parse_transport_url(transport_url))
        try:
            await stream.ensure_group()
            taken = 0
            while not emitting.done() or taken < SAMPLE_RUNS:
                batch = await stream.read_new("test", 100, 200)
                await stream.acknowledge([delivery.entry_id for delivery in batch])
                taken += len(batch)
        finally:
            await stream.close()
            view.close()
        await emitting
        await runtime.wait_for_idle()
        assert runtime.drain.stats.runs_published == SAMPLE_RUNS == taken


async def test_overflow_drop_never_waits_and_close_reports_every_run_not_published(
    sqlite_url: str,
) -> None:
    down = f"redis+streams://127.0.0.1:{unused_port()}/0?stream=nowhere"
    config = agent_config(
        down,
        sqlite_url,
        "planner",
        transport={"overflow": "drop"},
        drain={"max_buffered_runs": 5, "close_timeout_s": 1.0},
    )
    runtime = AdaptiveRuntime(config)
    await runtime.start()
    await asyncio.wait_for(emit_sample(runtime), 30)  # Redis is down, and emit never waits
    for _ in range(100):
        if runtime.drain.stats.runs_completed == SAMPLE_RUNS:
            break
        await asyncio.sleep(0.05)
    samples = scrape(runtime.metrics.registry)
    assert samples["adaptive_runs_dropped_total"] == SAMPLE_RUNS - 5
    assert samples["adaptive_buffered_runs"] == 5
    with pytest.raises(RunsNotPublishedError) as caught:
        await runtime.close()
    assert (caught.value.unpublished, caught.value.dropped, caught.value.count) == (5, 35, 40)
    assert "5 completed run(s) could not be published" in str(caught.value)
    assert "35 run(s) were dropped" in str(caught.value)


@pytest.fixture
def persistent_redis() -> Iterator[ThrowawayRedis]:
    """A throwaway Redis with an append-only file, so a restart keeps the stream."""
    server = ThrowawayRedis("--appendonly", "yes", "--appendfsync", "always")
    try:
        yield server.start()
    finally:
        server.close()


async def test_redis_stopped_for_5_s_while_agents_publish_loses_nothing(
    persistent_redis: ThrowawayRedis, fresh_postgres_url: str, tmp_path: Path
) -> None:
    transport = streams_url(persistent_redis.url, "runs")
    agents = [f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"]
    traces = [write_trace(replicated_trace(3), tmp_path / f"{a}.jsonl") for a in agents]
    runtimes = [
        AdaptiveRuntime(agent_config(transport, fresh_postgres_url, agent)) for agent in agents
    ]
    emitted = [0, 0]

    async def agent(index: int) -> None:
        for event in read_events(traces[index], ReadReport()):
            await runtimes[index].emit(event)
            emitted[index] += 1
            await asyncio.sleep(0.002)  # a live agent, not a bulk load

    with workers(start_worker(transport, fresh_postgres_url, tmp_path)) as (worker,):
        for runtime in runtimes:
            await runtime.start()
        publishing = [asyncio.create_task(agent(i)) for i in range(2)]
        await asyncio.sleep(1.0)
        persistent_redis.stop()
        during = list(emitted)
        await asyncio.sleep(5.0)
        assert all(now > before for now, before in zip(emitted, during, strict=True))
        persistent_redis.start()
        await asyncio.gather(*publishing)  # the agents never failed
        for runtime in runtimes:
            await runtime.close()  # everything published: no RunsNotPublishedError
        assert sum(r.drain.stats.storage_retries for r in runtimes) > 0  # the outage was seen
        for name in agents:
            await wait_stored(fresh_postgres_url, name, 120)
        stop_worker(worker)
    for name, trace in zip(agents, traces, strict=True):
        assert len(set(await stored_run_ids(fresh_postgres_url, name))) == 120
        state = await exported(fresh_postgres_url, name)
        assert_same_learning(state, await single_process_export(trace, name), name)


async def test_the_transport_on_a_redis_cluster(
    cluster_transport_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    config = agent_config(cluster_transport_url, sqlite_url, "planner")
    view = StreamView(cluster_transport_url)
    try:
        with workers(start_worker(cluster_transport_url, sqlite_url, tmp_path)) as (worker,):
            async with AdaptiveRuntime(config) as runtime:
                assert runtime._listener is not None
                await asyncio.wait_for(runtime._listener.wait_subscribed(), 10)
                await emit_sample(runtime)
                await runtime.wait_for_idle()
                view.add_raw({"v": "1", "run": "[]"})
                await wait_stored(sqlite_url, "planner", SAMPLE_RUNS)
                await wait_until(lambda: runtime.hot_cache.plan is not None, 10, "notice")
                await wait_until(lambda: len(view.dead_letters()) == 1, 30, "a dead letter")
            summary = stop_worker(worker)
        assert "runs stored 40" in summary
        assert view.dead_letters()[0]["reason"].startswith("undecodable entry")
        assert view.pending() == 0
    finally:
        view.close()
    state = await exported(sqlite_url, "planner")
    assert_same_learning(state, await single_process_export(SAMPLE_TRACE, "planner"), "planner")


async def test_the_hot_cache_follows_the_workers_commits(
    transport_url: str, fresh_postgres_url: str, tmp_path: Path
) -> None:
    config = agent_config(
        transport_url, fresh_postgres_url, "planner", transport={"refresh_interval_ms": 200}
    )
    with workers(start_worker(transport_url, fresh_postgres_url, tmp_path)) as (worker,):
        async with AdaptiveRuntime(config) as runtime:
            assert runtime._listener is not None
            await asyncio.wait_for(runtime._listener.wait_subscribed(), 10)
            assert runtime.hot_cache.plan is None and runtime.hot_cache.trie is None
            await emit_sample(runtime)
            await runtime.wait_for_idle()
            await wait_stored(fresh_postgres_url, "planner", SAMPLE_RUNS)
            await wait_until(lambda: runtime.hot_cache.trie is not None, 10, "a refresh")
            assert runtime.hot_cache.plan is not None
            assert runtime.hot_cache.acg_observation_count > 0
            listener = runtime._listener
            assert listener.notices >= 1 and listener.refreshes >= 1
            samples = scrape(runtime.metrics.registry)
            assert samples["adaptive_runs_published_total"] == SAMPLE_RUNS
            assert samples["adaptive_runs_stored_total"] == 0  # learned elsewhere
            assert samples["adaptive_hot_cache_age_seconds"] < 60
        stop_worker(worker)


async def test_debounced_refreshes_stay_fewer_than_the_notices(transport_url: str) -> None:
    config = agent_config(
        transport_url, "memory://", "planner", transport={"refresh_interval_ms": 300}
    )
    async with AdaptiveRuntime(config) as runtime:
        listener = runtime._listener
        assert listener is not None
        await asyncio.wait_for(listener.wait_subscribed(), 10)
        await wait_until(lambda: listener.refreshes == 1, 10, "the refresh on subscribing")
        stream = await RunStream.open(parse_transport_url(transport_url))
        try:
            for _ in range(20):
                await stream.announce("planner", b"{}")
                await asyncio.sleep(0.02)
            await stream.announce("someone-else", b"{}")
        finally:
            await stream.close()
        await wait_until(lambda: listener.notices == 20, 10, "20 notices")
        await asyncio.sleep(0.8)
        assert 2 <= listener.refreshes <= 4  # ~0.4 s of notices at most one per 0.3 s


async def test_worker_metrics_are_served_over_http(
    transport_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    port = unused_port()
    with workers(start_worker(transport_url, sqlite_url, tmp_path, metrics_port=port)) as (worker,):
        await publish_trace(SAMPLE_TRACE, transport_url, sqlite_url, "planner")
        await wait_stored(sqlite_url, "planner", SAMPLE_RUNS)

        def fetch() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
                assert reply.status == 200
                return str(reply.read().decode())

        async def acknowledged() -> bool:
            return "adaptive_entries_acknowledged_total 40.0" in await asyncio.to_thread(fetch)

        await wait_until(acknowledged, 30, "40 entries acknowledged in the metrics")
        await asyncio.sleep(1.2)  # the next trim refreshes the stream gauges
        body = await asyncio.to_thread(fetch)
        stop_worker(worker)
    for line in (
        "adaptive_runs_stored_total 40.0",
        "adaptive_runs_already_stored_total 0.0",
        "adaptive_runs_rejected_total 0.0",
        "adaptive_dead_letters_total 0.0",
        "adaptive_stream_pending 0.0",
        "adaptive_stream_lag 0.0",
        'adaptive_unit_commit_seconds_bucket{le="+Inf"}',
        "adaptive_retries_total 0.0",
    ):
        assert line in body, line


async def test_a_runtime_serves_its_own_metrics_registry(transport_url: str) -> None:
    config = agent_config(transport_url, "memory://", "planner", metrics={"port": 0})
    async with AdaptiveRuntime(config) as runtime:
        server = await runtime.serve_metrics()  # the one started from the config
        await emit_sample(runtime)
        await runtime.wait_for_idle()

        def fetch() -> str:
            with urllib.request.urlopen(server.url, timeout=5) as reply:
                return str(reply.read().decode())

        body = await asyncio.to_thread(fetch)
        other = AdaptiveRuntime(agent_config(transport_url, "memory://", "other"))
        assert other.metrics.registry is not runtime.metrics.registry
    assert "adaptive_events_received_total 576.0" in body
    assert "adaptive_runs_published_total 40.0" in body
    assert "adaptive_stream_length 40.0" in body


async def test_the_relay_bridge_publishes_and_never_learns_in_the_agent(
    transport_url: str, fresh_postgres_url: str, tmp_path: Path
) -> None:
    config = agent_config(
        transport_url, fresh_postgres_url, AGENT, tool_parallelism={"mode": "schedule"}
    )
    with workers(start_worker(transport_url, fresh_postgres_url, tmp_path)) as (worker,):
        async with AdaptiveRuntime(config) as runtime:
            bridge = await RelayBridge.attach(runtime)
            await run_agent(6)
            await bridge.detach()
            await runtime.wait_for_idle()
            assert runtime.drain.stats.runs_published == 6
            assert runtime.drain.stats.runs_stored == 0
            await wait_stored(fresh_postgres_url, AGENT, 6)
            await wait_until(lambda: runtime.hot_cache.plan is not None, 10, "plan refreshed")
        stop_worker(worker)
    await nemo_relay.subscribers.flush_async()
