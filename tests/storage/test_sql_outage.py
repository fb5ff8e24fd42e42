"""PostgreSQL unreachable for 5 s in the middle of an ingest: no run lost, none twice."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from adaptive.cli.ingest import ingest
from adaptive.config import AdaptiveConfig, BackendKind, BackendSpec, DrainConfig, StateConfig
from adaptive.events.model import Event
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.export import export_state
from adaptive.storage.factory import create_backend
from tests.proxy import CuttableProxy
from tests.storage.figures import assert_same_learning
from tests.traces import replicated_trace, write_trace

OUTAGE_SECONDS = 5.0


async def emit_paced(
    runtime: AdaptiveRuntime, events: list[dict[str, Any]], seconds: float
) -> None:
    pause = seconds / max(1, len(events))
    for event in events:
        await runtime.emit(Event.model_validate(event))
        await asyncio.sleep(pause)


@pytest.mark.parametrize("tiers", ["postgres", "redis in front of postgres"])
async def test_outage_loses_no_run(
    tiers: str, postgres_url: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    url = make_url(postgres_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    agent = f"outage-{uuid.uuid4().hex[:8]}"
    events = replicated_trace(5)  # 200 runs
    third = len(events) // 3
    config = AdaptiveConfig(agent_id=agent, drain=DrainConfig(close_timeout_s=60))
    if tiers == "postgres":
        runtime = AdaptiveRuntime(config.with_backend_url(through_proxy))
    else:
        hot = request.getfixturevalue("redis_url")
        spec = BackendSpec(kind=BackendKind.TIERED, config={"durable": through_proxy, "hot": hot})
        runtime = AdaptiveRuntime(config.model_copy(update={"state": StateConfig(backend=spec)}))
    try:
        async with runtime:
            await emit_paced(runtime, events[:third], 1.0)
            await runtime.wait_for_idle()
            proxy.cut()
            cut_at = time.monotonic()
            await emit_paced(runtime, events[third : 2 * third], OUTAGE_SECONDS - 0.5)
            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - cut_at)))
            buffered_during_outage = runtime.drain.pending_runs
            proxy.restore()
            await emit_paced(runtime, events[2 * third :], 1.0)
            await runtime.wait_for_idle()
            retries = runtime.drain.stats.storage_retries
    finally:
        await proxy.stop()

    assert buffered_during_outage > 0, "the outage did not hit the drain"
    assert retries > 0
    direct = create_backend(config.with_backend_url(postgres_url).backend)
    await direct.open()
    try:
        stored = await export_state(direct, agent)
    finally:
        await direct.close()
    reference = await ingest(
        write_trace(events, tmp_path / "trace.jsonl"),
        config.with_backend_url("memory://"),
        export=True,
    )
    assert reference.state is not None
    assert len(stored[f"runs_index:{agent}"]) == 200
    assert_same_learning(stored, reference.state, agent)
    assert stored[f"accumulators:{agent}"] == reference.state[f"accumulators:{agent}"]
