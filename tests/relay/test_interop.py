"""Live interop with the real ``nemo-relay`` package: shared Redis state, both directions.

NeMo Relay runs in a subprocess (``tests/relay_agent.py``) with its own
native adaptive runtime on a Redis prefix; our runtime then works on that
same prefix, or the other way round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis

from adaptive.cli.ingest import ingest
from adaptive.config import AdaptiveConfig
from adaptive.intercepts.agent_hints import LlmCallSite
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.redis import RedisBackend
from tests.factories import SAMPLE_TRACE

ROOT = Path(__file__).resolve().parents[2]
AGENT = "planner"


def split_redis_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    prefix = parse_qs(parts.query)["key_prefix"][0]
    return parts._replace(query="").geturl(), prefix


def run_native_agent(redis_url: str, runs: int, *, mode: str = "schedule") -> dict[str, Any]:
    server, prefix = split_redis_url(redis_url)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.relay_agent",
            "--native",
            "--redis-url",
            server,
            "--key-prefix",
            prefix,
            "--runs",
            str(runs),
            "--mode",
            mode,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RUST_LOG": "warn"},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    summary: dict[str, Any] = json.loads(completed.stdout)
    return summary


def raw_value(redis_url: str, key: str) -> Any:
    server, prefix = split_redis_url(redis_url)
    client = redis.Redis.from_url(server)
    try:
        value = client.get(f"{prefix}{key}")
        assert value is not None, f"NeMo Relay wrote no {prefix}{key}"
        return json.loads(value)
    finally:
        client.close()


def runs_indexed(redis_url: str) -> int:
    server, prefix = split_redis_url(redis_url)
    client = redis.Redis.from_url(server)
    try:
        return int(client.llen(f"{prefix}runs_index:{AGENT}"))
    finally:
        client.close()


def root_count(accumulators: dict[str, Any]) -> int:
    count: int = accumulators["nodes"][""]["all_remaining_calls"]["count"]
    return count


async def test_state_learned_by_nemo_relay_seeds_our_hot_cache(redis_url: str) -> None:
    summary = run_native_agent(redis_url, runs=6)
    assert summary["report"] == {"diagnostics": []}
    assert summary["events"] > 0
    written_plan = raw_value(redis_url, f"plan:{AGENT}")
    assert written_plan["parallel_groups"], "NeMo Relay learned no fan-out"

    config = AdaptiveConfig(agent_id=AGENT).with_backend_url(redis_url)
    async with AdaptiveRuntime(config) as runtime:
        cache = runtime.hot_cache
        assert cache.plan is not None
        assert cache.plan.model_dump(mode="json") == written_plan
        assert [group.tool_names for group in cache.plan.parallel_groups] == [["fetch", "search"]]
        assert cache.trie is not None and cache.agent_hints_default is not None
        assert cache.acg_stability is not None
        assert cache.acg_observation_count == 12  # two LLM calls per run
        # NeMo Relay's trie answers our hints lookup for its LLM call name.
        hints = runtime.agent_hints.hints_for(LlmCallSite(("openai",), 1, AGENT))
        assert hints is not None and hints.osl == 24  # the provider's completion tokens

        # Learning goes on from NeMo Relay's state: its runs and ours add up.
        backend = runtime.backend
        assert isinstance(backend, RedisBackend)
        assert len(await backend.list_run_ids(AGENT)) == 6


async def test_nemo_relay_runs_from_state_we_learned(redis_url: str) -> None:
    config = AdaptiveConfig(agent_id=AGENT).with_backend_url(redis_url)
    summary = await ingest(SAMPLE_TRACE, config)
    assert summary.stats.runs_stored == 40
    our_plan = raw_value(redis_url, f"plan:{AGENT}")
    our_count = root_count(raw_value(redis_url, f"accumulators:{AGENT}"))

    native = run_native_agent(redis_url, runs=4, mode="schedule")

    assert native["report"] == {"diagnostics": []}
    assert runs_indexed(redis_url) == 40 + 4
    # NeMo Relay read our accumulators and kept adding to them (2 LLM calls per run)...
    assert root_count(raw_value(redis_url, f"accumulators:{AGENT}")) == our_count + 4 * 2
    # ...and merged its fan-out into our plan instead of replacing it.
    merged = raw_value(redis_url, f"plan:{AGENT}")
    ours = {group["group_id"] for group in our_plan["parallel_groups"]}
    assert ours <= {group["group_id"] for group in merged["parallel_groups"]}
    # Our runtime still reads the state both wrote.
    async with AdaptiveRuntime(config) as runtime:
        assert runtime.hot_cache.plan is not None
        assert runtime.hot_cache.plan.model_dump(mode="json") == merged
