import pytest

from adaptive.config import AdaptiveConfig, DrainConfig
from adaptive.errors import ConfigError, RunsNotStoredError
from adaptive.events.atof import ReadReport, read_events
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.memory import MemoryBackend
from tests.factories import SAMPLE_TRACE, Trace
from tests.test_drain import FlakyBackend, simple_run


async def learn_sample(runtime: AdaptiveRuntime) -> None:
    for event in read_events(SAMPLE_TRACE, ReadReport()):
        await runtime.emit(event)
    await runtime.wait_for_idle()


async def test_hot_cache_follows_learning_and_is_seeded_on_restart() -> None:
    backend = MemoryBackend()
    config = AdaptiveConfig(agent_id="planner")
    async with AdaptiveRuntime(config, backend=backend) as runtime:
        await learn_sample(runtime)
        learned = runtime.hot_cache
        assert learned.plan is not None and learned.trie is not None
        assert learned.agent_hints_default is not None
        assert learned.acg_stability is not None and learned.acg_observation_count == 80
        assert len(learned.acg_profiles) == 2

    restarted = AdaptiveRuntime(config, backend=backend, learners=[])
    async with restarted:
        seeded = restarted.hot_cache
        assert seeded.plan == learned.plan
        assert seeded.trie == learned.trie
        assert seeded.agent_hints_default == learned.agent_hints_default
        assert seeded.acg_stability == learned.acg_stability
        assert seeded.acg_observation_count == 80


async def test_emit_nowait_and_close_flushes_pending_runs() -> None:
    backend = MemoryBackend()
    trace = Trace()
    simple_run(trace)
    runtime = AdaptiveRuntime(AdaptiveConfig(agent_id="a"), backend=backend)
    await runtime.start()
    for event in trace.events:
        runtime.emit_nowait(event)
    await runtime.close()
    assert len(await backend.list_run_ids("a")) == 1


async def test_close_reports_runs_it_could_not_store() -> None:
    trace = Trace()
    simple_run(trace)
    config = AdaptiveConfig(agent_id="a", drain=DrainConfig(close_timeout_s=0.2))
    runtime = AdaptiveRuntime(config, backend=FlakyBackend(outages=10**9), learners=[])
    await runtime.start()
    for event in trace.events:
        await runtime.emit(event)
    with pytest.raises(RunsNotStoredError, match="1 completed run"):
        await runtime.close()


def test_tiered_backend_without_its_tiers_is_a_config_error() -> None:
    from adaptive.config import BackendKind, BackendSpec, StateConfig

    tiered = StateConfig(backend=BackendSpec(kind=BackendKind.TIERED))
    with pytest.raises(ConfigError, match=r"needs state\.backend\.config\.durable"):
        AdaptiveRuntime(AdaptiveConfig(state=tiered))


async def test_cohort_gates_are_shared_through_redis_and_local_otherwise(
    redis_url: str, sqlite_url: str
) -> None:
    from adaptive.intercepts.cohort_gate import LocalCohortGate, RedisCohortGate

    on_redis = AdaptiveRuntime(AdaptiveConfig(agent_id="gates").with_backend_url(redis_url))
    on_sqlite = AdaptiveRuntime(AdaptiveConfig(agent_id="gates").with_backend_url(sqlite_url))
    async with on_redis, on_sqlite:
        assert isinstance(on_redis.warm_first.gate, RedisCohortGate)
        assert on_redis.warm_first.gate.key_prefix == redis_url.split("key_prefix=")[1]
        assert isinstance(on_sqlite.warm_first.gate, LocalCohortGate)


def test_drain_section_sets_the_drains_unit_sizes() -> None:
    config = AdaptiveConfig(drain=DrainConfig(batch_size=16, max_batch_size=128))
    drain = AdaptiveRuntime(config, backend=MemoryBackend()).drain
    assert (drain.batch_size, drain.max_batch_size) == (16, 128)
    default = AdaptiveRuntime(AdaptiveConfig(), backend=MemoryBackend()).drain
    assert (default.batch_size, default.max_batch_size) == (64, 256)
