"""Four OS processes learning for one agent against one Redis (or Redis Cluster) lose nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from adaptive.storage.export import export_state
from adaptive.storage.redis import RedisBackend
from tests.storage.figures import assert_same_learning, single_process_export
from tests.traces import replicated_trace, write_split_trace

PROCESSES = 4

WORKER = """
import asyncio, sys
from adaptive.config import AdaptiveConfig
from adaptive.events.atof import ReadReport, read_events
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.redis import RedisBackend

async def main(trace, url, agent):
    backend = RedisBackend(url)
    runtime = AdaptiveRuntime(AdaptiveConfig(agent_id=agent), backend=backend)
    async with runtime:
        for event in read_events(trace, ReadReport()):
            await runtime.emit(event)
        await runtime.wait_for_idle()
    stats = runtime.drain.stats
    print(f"stored {stats.runs_stored} conflicts {backend.conflicts}")

asyncio.run(main(*sys.argv[1:]))
"""


async def exported(url: str, agent: str) -> dict[str, Any]:
    backend = RedisBackend(url)
    await backend.open()
    try:
        return await export_state(backend, agent)
    finally:
        await backend.close()


@pytest.fixture(params=["redis", "redis-cluster"])
def shared_url(request: pytest.FixtureRequest) -> str:
    """One server, then a three-node cluster (a braced prefix: every unit in one slot)."""
    url: str = request.getfixturevalue(
        "redis_url" if request.param == "redis" else "redis_cluster_url"
    )
    return url


def test_four_processes_equal_one(shared_url: str, tmp_path: Path) -> None:
    redis_url = shared_url
    agent = f"planner-{uuid.uuid4().hex[:8]}"
    events = replicated_trace(10)  # 400 runs, 5,760 events
    whole, parts = write_split_trace(events, PROCESSES, tmp_path)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(part), redis_url, agent],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for part in parts
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err + out
        assert out.startswith("stored 100 "), out
    shared = asyncio.run(exported(redis_url, agent))
    assert len(shared[f"runs_index:{agent}"]) == 400
    assert_same_learning(shared, asyncio.run(single_process_export(whole, agent)), agent)
