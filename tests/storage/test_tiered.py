"""Redis in front of PostgreSQL: PostgreSQL is the truth, Redis a copy that heals itself."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from adaptive.config import AdaptiveConfig, BackendKind, BackendSpec, StateConfig
from adaptive.events.atof import ReadReport, read_events
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.export import export_state
from adaptive.storage.factory import create_backend
from adaptive.storage.memory import MemoryBackend
from adaptive.storage.redis import RedisBackend
from adaptive.storage.tiered import TieredBackend
from tests.factories import SAMPLE_TRACE
from tests.parity import IDENTITY_KEYS, assert_json_close
from tests.storage.support import opened

AGENT = "planner"


def tiered_config(durable: str, hot: str) -> AdaptiveConfig:
    spec = BackendSpec(kind=BackendKind.TIERED, config={"durable": durable, "hot": hot})
    return AdaptiveConfig(agent_id=AGENT, state=StateConfig(backend=spec))


async def learn_sample(runtime: AdaptiveRuntime) -> None:
    for event in read_events(SAMPLE_TRACE, ReadReport()):
        await runtime.emit(event)
    await runtime.wait_for_idle()


async def memory_state() -> dict[str, Any]:
    backend = MemoryBackend()
    async with AdaptiveRuntime(AdaptiveConfig(agent_id=AGENT), backend=backend) as runtime:
        await learn_sample(runtime)
    return await export_state(backend, AGENT)


async def delete_prefix(redis_url: str) -> int:
    prefix = RedisBackend(redis_url).settings.key_prefix
    client = Redis.from_url(redis_url.split("?")[0])
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        return await client.delete(*keys) if keys else 0
    finally:
        await client.aclose()


def test_factory_builds_tiers_from_urls_or_tables(fresh_postgres_url: str, redis_url: str) -> None:
    backend = create_backend(tiered_config(fresh_postgres_url, redis_url).backend)
    assert isinstance(backend, TieredBackend)
    assert isinstance(backend.hot, RedisBackend)


async def test_learns_into_postgres_and_mirrors_into_redis(
    fresh_postgres_url: str, redis_url: str
) -> None:
    async with AdaptiveRuntime(tiered_config(fresh_postgres_url, redis_url)) as runtime:
        await learn_sample(runtime)
    async with opened(create_backend(BackendSpec.from_url(fresh_postgres_url))) as durable:
        truth = await export_state(durable, AGENT)
    async with opened(RedisBackend(redis_url)) as hot:
        copy = await export_state(hot, AGENT)
    assert_json_close(truth, await memory_state(), ignore=IDENTITY_KEYS)
    assert copy == truth


async def test_flushed_redis_is_reseeded_from_postgres_on_start(
    fresh_postgres_url: str, redis_url: str
) -> None:
    config = tiered_config(fresh_postgres_url, redis_url)
    async with AdaptiveRuntime(config) as runtime:
        await learn_sample(runtime)
        learned_plan = runtime.hot_cache.plan
        learned_hints = runtime.hot_cache.agent_hints_default
    assert await delete_prefix(redis_url) > 0

    async with AdaptiveRuntime(config, learners=[]) as restarted:
        assert restarted.hot_cache.plan == learned_plan
        assert restarted.hot_cache.agent_hints_default == learned_hints
        assert restarted.hot_cache.acg_observation_count == 80
    async with opened(RedisBackend(redis_url)) as hot:
        assert await hot.load_plan(AGENT) == learned_plan
        assert await hot.load_accumulators(AGENT) is not None
        assert len(await hot.list_run_ids(AGENT)) == 40


async def test_redis_down_costs_no_unit_and_heals_later(
    fresh_postgres_url: str, redis_url: str
) -> None:
    down = tiered_config(fresh_postgres_url, "redis://127.0.0.1:1/0")
    async with AdaptiveRuntime(down) as runtime:
        await learn_sample(runtime)
        assert isinstance(runtime.backend, TieredBackend)
        assert runtime.backend.hot_stale
        assert runtime.drain.stats.runs_stored == 40
    async with AdaptiveRuntime(tiered_config(fresh_postgres_url, redis_url), learners=[]):
        pass
    async with opened(RedisBackend(redis_url)) as hot:
        assert len(await hot.list_run_ids(AGENT)) == 40
        assert await hot.load_plan(AGENT) is not None
