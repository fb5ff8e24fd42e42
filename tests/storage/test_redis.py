"""RedisBackend against a real Redis: the protocol, NeMo Relay's wire format, races, retention."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from uuid import uuid4

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from adaptive.config import AdaptiveConfig
from adaptive.drain import RunAccumulator
from adaptive.errors import ConfigError, StorageError, StorageUnavailableError
from adaptive.events.model import Event
from adaptive.events.replicate import replicated_events
from adaptive.learners import build_learners
from adaptive.plan import ExecutionPlan, ParallelGroup
from adaptive.records import CallKind, RunRecord
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.export import export_state
from adaptive.storage.memory import MemoryBackend
from adaptive.storage.protocol import StateChanges, StorageBackend, UnitOfWork
from adaptive.storage.redis import ConcurrentUpdateError, RedisBackend
from adaptive.storage.redis.keyspace import glob_escape
from tests.factories import SAMPLE_TRACE, load_sample_state, run_with
from tests.parity import IDENTITY_KEYS, assert_json_close
from tests.proxy import CuttableProxy
from tests.storage.support import (
    add,
    learned_from,
    observation,
    plan,
    sample_events,
    sample_runs,
    sample_state_as_a_unit,
    save,
    store_unit,
    without_fresh_ids,
)
from tests.storage.support import opened as open_backend

# -- helpers ------------------------------------------------------------------


def opened(url: str, **options: Any) -> AbstractAsyncContextManager[RedisBackend]:
    return open_backend(RedisBackend(url, **options))


@pytest.fixture
async def backend(redis_url: str) -> AsyncIterator[RedisBackend]:
    async with opened(redis_url) as opened_backend:
        yield opened_backend


@pytest.fixture
def prefix(redis_url: str) -> str:
    return dict(parse_qsl(urlsplit(redis_url).query))["key_prefix"]


@pytest.fixture
async def raw(redis_server: str) -> AsyncIterator[Redis]:
    """A plain client, for looking at (and writing) keys as NeMo Relay would."""
    client = Redis.from_url(redis_server)
    try:
        yield client
    finally:
        await client.aclose()


async def load_verbatim(raw: Redis, prefix: str, state: dict[str, Any]) -> None:
    """Write NeMo Relay's state as its Redis backend does: JSON strings and one LIST."""
    async with raw.pipeline(transaction=False) as pipe:
        for key, value in state.items():
            if key.startswith("runs_index:"):
                pipe.rpush(prefix + key, *value)
            else:
                pipe.set(prefix + key, json.dumps(value))
        await pipe.execute()


async def stored_json(raw: Redis, prefix: str) -> dict[str, Any]:
    """Every key under ``prefix`` (prefix removed) as the JSON NeMo Relay would read."""
    state: dict[str, Any] = {}
    async for key in raw.scan_iter(match=glob_escape(prefix) + "*", count=1000):
        name = key.decode().removeprefix(prefix)
        if name.startswith("runs_index:"):
            ids: list[bytes] = await raw.lrange(key, 0, -1)  # type: ignore[assignment]
            state[name] = [run_id.decode() for run_id in ids]
        else:
            value: bytes = await raw.get(key)  # type: ignore[assignment]
            state[name] = json.loads(value)
    return state


# -- the protocol, as the memory backend satisfies it ----------------------------


async def test_glob_characters_in_agent_ids_and_prefix_are_literal(
    redis_server: str, prefix: str
) -> None:
    agents = ["a*", "a?", "a[b]", "a\\", "ab", "a1", "a\\x", "a[b]::x"]
    async with (
        opened(redis_server, key_prefix=prefix + "[s]*:") as globby,
        opened(redis_server, key_prefix=prefix + "s1:") as plain,
    ):
        for agent in agents:
            changes = StateChanges(
                plans={agent: plan(agent)},
                observations={agent: [observation()], f"{agent}::model=m": [observation()]},
            )
            await save(globby, agent, changes)
        await save(plain, "other", StateChanges(plans={"other": plan("other")}))
        assert await globby.list_agents() == sorted(agents)
        assert await plain.list_agents() == ["other"]
        assert await globby.list_acg_keys("a*") == ["a*", "a*::model=m"]
        assert await globby.list_acg_keys("a?") == ["a?", "a?::model=m"]
        assert await globby.list_acg_keys("a[b]") == [
            "a[b]",
            "a[b]::model=m",
            "a[b]::x",
            "a[b]::x::model=m",
        ]
        assert await globby.list_acg_keys("a\\") == ["a\\", "a\\::model=m"]


async def test_an_empty_window_is_not_a_missing_one(backend: RedisBackend) -> None:
    memory = MemoryBackend()
    for target in (memory, backend):
        await save(target, "a", StateChanges(observations={"a": [observation()]}))
        await save(target, "a", StateChanges(observations={"a": []}))
    assert await backend.load_observations("a") == []
    assert await backend.load_observations("a::model=never") is None
    assert await export_state(backend) == await export_state(memory)


# -- NeMo Relay's wire format, both ways -----------------------------------------------


async def test_state_written_by_nemo_relay_exports_unchanged(
    backend: RedisBackend, raw: Redis, prefix: str
) -> None:
    sample = load_sample_state()
    await load_verbatim(raw, prefix, sample)
    assert await export_state(backend, "planner") == sample
    assert await export_state(backend) == sample
    assert await backend.list_agents() == ["planner"]


async def test_state_written_by_us_is_what_nemo_relay_wrote(
    backend: RedisBackend, raw: Redis, prefix: str
) -> None:
    """Same keys, same JSON: a NeMo Relay process reading after us sees its own format."""
    sample = load_sample_state()
    records, changes = sample_state_as_a_unit(sample)
    await store_unit(backend, "planner", records, changes)
    assert await stored_json(raw, prefix) == sample
    assert await raw.type(prefix + "runs_index:planner") == b"list"


async def test_runtime_continues_from_nemo_relay_state(
    backend: RedisBackend, raw: Redis, prefix: str
) -> None:
    sample = load_sample_state()
    await load_verbatim(raw, prefix, sample)
    second_copy = [Event.model_validate(e) for e in replicated_events(SAMPLE_TRACE, 2)]
    new_events = second_copy[len(second_copy) // 2 :]
    state = await learned_from(new_events, backend)

    accumulator = RunAccumulator("planner")
    new_runs = [run for event in new_events if (run := accumulator.process(event)) is not None]
    new_llm_calls = sum(
        1
        for run in new_runs
        for c in run.calls
        if c.kind is CallKind.LLM and c.ended_at is not None
    )
    assert state["runs_index:planner"][:40] == sample["runs_index:planner"]
    assert state["runs_index:planner"][40:] == [str(run.id) for run in new_runs]
    assert len(new_runs) == 40 and new_llm_calls > 0
    before = sample["accumulators:planner"]["nodes"][""]["all_output_tokens"]["count"]
    after = state["accumulators:planner"]["nodes"][""]["all_output_tokens"]["count"]
    assert after == before + new_llm_calls
    groups_before = {g["group_id"] for g in sample["plan:planner"]["parallel_groups"]}
    groups_after = {g["group_id"] for g in state["plan:planner"]["parallel_groups"]}
    assert groups_before <= groups_after
    for run_id in sample["runs_index:planner"]:  # NeMo Relay's runs are untouched
        assert state[f"runs:planner:{run_id}"] == sample[f"runs:planner:{run_id}"]


async def test_sample_trace_learns_what_the_memory_backend_learns(
    backend: RedisBackend, raw: Redis, prefix: str
) -> None:
    expected = await learned_from(sample_events(), MemoryBackend())
    actual = await learned_from(sample_events(), backend)
    assert len(actual["runs_index:planner"]) == 40
    assert await stored_json(raw, prefix) == actual  # the export is what Redis holds
    assert_json_close(actual, expected, ignore=IDENTITY_KEYS)
    assert without_fresh_ids(actual) == without_fresh_ids(expected)


async def test_reingest_changes_nothing(backend: RedisBackend) -> None:
    first = await learned_from(sample_events(), backend)
    assert await learned_from(sample_events(), backend) == first


# -- records and identifiers round-trip exactly ------------------------------------------


async def test_many_runs_load_in_pages(backend: RedisBackend) -> None:
    runs = [run_with([]) for _ in range(1_200)]
    for start in range(0, len(runs), 64):
        await add(backend, runs[start : start + 64])
    ids = await backend.list_run_ids("a")
    assert ids == [run.id for run in runs]
    assert [run.id for run in await backend.load_runs("a", ids)] == ids


# -- races: WATCH/MULTI ----------------------------------------------------------------


async def test_unit_that_lost_a_race_runs_again(
    backend: RedisBackend, raw: Redis, prefix: str
) -> None:
    """A blind writer (NeMo Relay) changes a key this unit read: the unit runs again."""
    await save(backend, "a", StateChanges(plans={"a": plan("a", "original")}))
    attempts = 0

    async def work(unit: UnitOfWork) -> int:
        nonlocal attempts
        attempts += 1
        loaded = await unit.load_plan("a")
        assert loaded is not None
        if attempts == 1:
            await raw.set(prefix + "plan:a", plan("a", "theirs").to_wire_json())
        groups = [
            *loaded.parallel_groups,
            ParallelGroup(group_id=f"mine-{attempts}", tool_names=[]),
        ]
        unit.save(
            "a", StateChanges(plans={"a": loaded.model_copy(update={"parallel_groups": groups})})
        )
        return attempts

    assert await backend.run_unit_of_work(work) == 2
    stored = await backend.load_plan("a")
    assert stored is not None
    assert [group.group_id for group in stored.parallel_groups] == ["theirs", "mine-2"]


async def test_run_added_by_another_writer_meanwhile_is_not_stored_twice(
    redis_url: str,
) -> None:
    run = run_with([])
    async with opened(redis_url) as mine, opened(redis_url) as theirs:
        returned: list[list[RunRecord]] = []

        async def work(unit: UnitOfWork) -> None:
            fresh = await unit.add_runs([run])
            returned.append(fresh)
            if len(returned) == 1:
                assert await add(theirs, [run]) == [run]

        await mine.run_unit_of_work(work)
        assert returned == [[run], []]
        assert await mine.list_run_ids("a") == [run.id]


async def test_gives_up_as_unavailable_when_always_losing(
    redis_url: str, raw: Redis, prefix: str
) -> None:
    async def work(unit: UnitOfWork) -> None:
        await unit.load_plan("a")
        await raw.set(prefix + "plan:a", plan("a", str(uuid4())).to_wire_json())
        unit.save("a", StateChanges(plans={"a": plan("a", "mine")}))

    async with opened(redis_url, max_attempts=3) as backend:
        with pytest.raises(StorageUnavailableError, match="gave up after 3 attempts") as caught:
            await backend.run_unit_of_work(work)
    assert isinstance(caught.value.__cause__, ConcurrentUpdateError)
    stored = await stored_plan(raw, prefix + "plan:a")
    assert "mine" not in [group.group_id for group in stored.parallel_groups]


async def stored_plan(raw: Redis, key: str) -> ExecutionPlan:
    value: bytes = await raw.get(key)  # type: ignore[assignment]
    return ExecutionPlan.model_validate_json(value)


async def append_group(backend: StorageBackend, agent: str, group: str) -> None:
    """Read-modify-write of one plan: the shape of every learner."""

    async def work(unit: UnitOfWork) -> None:
        current_plan = await unit.load_plan(agent) or plan(agent)
        await asyncio.sleep(0.001)  # widen the race window
        groups = [*current_plan.parallel_groups, ParallelGroup(group_id=group, tool_names=[])]
        updated = current_plan.model_copy(update={"parallel_groups": groups})
        unit.save(agent, StateChanges(plans={agent: updated}))

    await backend.run_unit_of_work(work)


async def test_no_lost_updates_between_clients(redis_url: str) -> None:
    """Two clients with their own pools are two processes as far as Redis can tell."""
    async with (
        opened(redis_url, max_attempts=50) as first,
        opened(redis_url, max_attempts=50) as second,
    ):
        await asyncio.gather(
            *(append_group(first, "a", f"first-{n}") for n in range(10)),
            *(append_group(second, "a", f"second-{n}") for n in range(10)),
        )
        stored = await first.load_plan("a")
    assert stored is not None
    assert sorted(group.group_id for group in stored.parallel_groups) == sorted(
        [f"first-{n}" for n in range(10)] + [f"second-{n}" for n in range(10)]
    )


async def test_interleaved_learning_loses_nothing(redis_url: str) -> None:
    """Two backends learning alternate batches of one agent end where one backend ends."""
    runs = sample_runs()
    batches = [runs[start : start + 5] for start in range(0, len(runs), 5)]
    learners = [build_learners(AdaptiveConfig(agent_id="planner")) for _ in range(2)]
    gate = asyncio.Event()
    attempts = 0

    async def learn(backend: RedisBackend, index: int) -> None:
        async def work(unit: UnitOfWork) -> None:
            nonlocal attempts
            attempts += 1
            fresh = await unit.add_runs(batches[index])
            changes = StateChanges()
            for learner in learners[index % 2]:
                changes.update((await learner.learn("planner", fresh, unit)).changes)
                await asyncio.sleep(0)  # let the other backend interleave
            unit.save("planner", changes)

        await gate.wait()
        await backend.run_unit_of_work(work)

    async with (
        opened(redis_url, max_attempts=100) as one,
        opened(redis_url, max_attempts=100) as two,
    ):
        tasks = [
            asyncio.create_task(learn(one if index % 2 == 0 else two, index))
            for index in range(len(batches))
        ]
        gate.set()
        await asyncio.gather(*tasks)
        shared = await export_state(one, "planner")
    assert attempts > len(batches), "the units never raced"
    memory = MemoryBackend()
    sequential = build_learners(AdaptiveConfig(agent_id="planner"))
    for batch in batches:

        async def work(unit: UnitOfWork, batch: list[RunRecord] = batch) -> None:
            fresh = await unit.add_runs(batch)
            changes = StateChanges()
            for learner in sequential:
                changes.update((await learner.learn("planner", fresh, unit)).changes)
            unit.save("planner", changes)

        await memory.run_unit_of_work(work)
    expected = await export_state(memory, "planner")
    from tests.storage.figures import assert_same_learning

    assert_same_learning(shared, expected, "planner")


# -- retention -----------------------------------------------------------------------


async def exists(raw: Redis, keys: list[str]) -> list[bool]:
    return [bool(await raw.exists(key)) for key in keys]


async def test_max_runs_keeps_the_newest_runs(redis_server: str, prefix: str, raw: Redis) -> None:
    runs = [run_with([]) for _ in range(8)]
    keys = [f"{prefix}runs:a:{run.id}" for run in runs]
    async with opened(redis_server, key_prefix=prefix, max_runs_per_agent=5) as backend:
        await add(backend, runs[:4])
        await add(backend, runs[4:])
        assert await backend.list_run_ids("a") == [run.id for run in runs[3:]]
        assert await exists(raw, keys) == [False] * 3 + [True] * 5

        burst = [run_with([]) for _ in range(7)]  # more than the cap in one batch
        assert await add(backend, burst) == burst  # all learned from ...
        assert await backend.list_run_ids("a") == [run.id for run in burst[2:]]  # ... 5 kept
        assert (
            await exists(raw, [f"{prefix}runs:a:{run.id}" for run in burst])
            == [False] * 2 + [True] * 5
        )
        assert not any(await exists(raw, keys))

        assert await add(backend, [runs[0]]) == [runs[0]]  # trimmed away: new again
        assert (await backend.list_run_ids("a"))[-1] == runs[0].id


async def test_cap_applies_per_agent_within_one_unit(redis_server: str, prefix: str) -> None:
    runs = {agent: [run_with([], agent=agent) for _ in range(4)] for agent in ("a", "b", "c")}
    mixed = [run for group in zip(*runs.values(), strict=True) for run in group]
    async with opened(
        redis_server, key_prefix=prefix, max_runs_per_agent=3, run_ttl_s=60
    ) as backend:
        assert await add(backend, mixed) == mixed
        for agent, agent_runs in runs.items():
            assert await backend.list_run_ids(agent) == [run.id for run in agent_runs[1:]]


async def test_index_over_the_cap_shrinks_on_the_next_commit(
    redis_server: str, prefix: str, raw: Redis
) -> None:
    old = [run_with([]) for _ in range(150)]
    async with opened(redis_server, key_prefix=prefix) as uncapped:  # as NeMo Relay: no cap
        await add(uncapped, old)
    new = run_with([])
    async with opened(redis_server, key_prefix=prefix, max_runs_per_agent=5) as capped:
        await add(capped, [new])
        assert await capped.list_run_ids("a") == [run.id for run in [*old[-4:], new]]
    assert not any(await exists(raw, [f"{prefix}runs:a:{run.id}" for run in old[:-4]]))


async def test_run_ttl_expires_runs_and_prunes_the_index(
    redis_server: str, prefix: str, raw: Redis
) -> None:
    async with opened(redis_server, key_prefix=prefix, run_ttl_s=60) as backend:
        first = [run_with([]) for _ in range(3)]
        await add(backend, first)
        for run in first:
            assert 0 < await raw.pttl(f"{prefix}runs:a:{run.id}") <= 60_000
        assert 0 < await raw.pttl(f"{prefix}runs_index:a") <= 60_000
        await raw.delete(*(f"{prefix}runs:a:{run.id}" for run in first[:2]))  # as if expired
        later = run_with([])
        await add(backend, [later])
        assert await backend.list_run_ids("a") == [first[2].id, later.id]
        assert await add(backend, [first[0]]) == [first[0]]  # expired: new again

    async with opened(redis_server, key_prefix=prefix + "short:", run_ttl_s=0.05) as short:
        gone = run_with([])
        await add(short, [gone])
        await asyncio.sleep(0.3)
        assert await short.load_runs("a", [gone.id]) == []
        assert await short.list_run_ids("a") == []


async def test_cap_and_ttl_together(redis_server: str, prefix: str, raw: Redis) -> None:
    async with opened(
        redis_server, key_prefix=prefix, max_runs_per_agent=3, run_ttl_s=60
    ) as backend:
        runs = [run_with([]) for _ in range(5)]
        await add(backend, runs[:2])
        await raw.delete(f"{prefix}runs:a:{runs[0].id}")  # expired
        await add(backend, runs[2:])
        assert await backend.list_run_ids("a") == [run.id for run in runs[2:]]
        assert await exists(raw, [f"{prefix}runs:a:{run.id}" for run in runs]) == [
            False,
            False,
            True,
            True,
            True,
        ]


# -- errors --------------------------------------------------------------------------


async def test_unreachable_redis_is_unavailable() -> None:
    with pytest.raises(StorageUnavailableError, match="unavailable while opening"):
        async with opened("redis://127.0.0.1:1/0", socket_connect_timeout=2):
            pass


async def test_outage_is_unavailable_then_recovers(redis_server: str, prefix: str) -> None:
    target = urlsplit(redis_server)
    proxy = CuttableProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    url = f"redis://127.0.0.1:{proxy.port}{target.path}"
    attempts = 0
    try:
        async with opened(url, key_prefix=prefix, retry=Retry(NoBackoff(), 1)) as backend:
            kept, swallowed = run_with([]), run_with([])
            await add(backend, [kept])

            async def work(unit: UnitOfWork) -> None:
                nonlocal attempts
                attempts += 1
                await unit.add_runs([swallowed])
                if attempts == 1:
                    proxy.cut()
                    with pytest.raises(StorageUnavailableError):
                        await unit.load_plan("a")  # a learner that swallows the error
                    proxy.restore()
                unit.save("a", StateChanges(plans={"a": plan("a", f"attempt-{attempts}")}))

            await backend.run_unit_of_work(work)  # the WATCH died with the connection: rerun
            assert attempts == 2
            stored = await backend.load_plan("a")
            assert stored is not None and stored.parallel_groups[0].group_id == "attempt-2"

            proxy.cut()
            with pytest.raises(StorageUnavailableError):
                await add(backend, [run_with([])])
            with pytest.raises(StorageUnavailableError):
                await backend.list_agents()
            proxy.restore()
            assert await backend.list_run_ids("a") == [kept.id, swallowed.id]
    finally:
        await proxy.stop()


async def test_wrong_type_at_the_index_is_rejected_naming_it(
    backend: RedisBackend, raw: Redis, prefix: str
) -> None:
    await raw.set(prefix + "runs_index:a", "not a list")
    with pytest.raises(StorageError, match=r"runs_index:a.*holds a string") as caught:
        await add(backend, [run_with([])])
    assert not isinstance(caught.value, StorageUnavailableError)
    assert await raw.keys(glob_escape(prefix) + "runs:*") == []


async def test_bad_values_fail_their_reader_not_the_unit(
    backend: RedisBackend, raw: Redis, prefix: str
) -> None:
    await raw.rpush(prefix + "plan:a", "a list, not a plan")
    await raw.set(prefix + "accumulators:a", "{not json")
    with pytest.raises(StorageError, match="plan:a") as caught:
        await backend.load_plan("a")
    assert not isinstance(caught.value, StorageUnavailableError)
    with pytest.raises(StorageError, match=r"accumulators:a.*not hold a valid accumulator"):
        await backend.load_accumulators("a")
    with pytest.raises(StorageError):
        await backend.load_plan("lone surrogate \ud800")

    run = run_with([])

    async def work(unit: UnitOfWork) -> None:
        await unit.add_runs([run])
        with pytest.raises(StorageError, match="plan:a"):
            await unit.load_plan("a")  # the drain counts a learner failure and goes on
        unit.save("a", StateChanges(tries={}))

    await backend.run_unit_of_work(work)
    assert await backend.list_run_ids("a") == [run.id]


async def test_corrupt_state_costs_a_learner_not_the_runs(
    backend: RedisBackend, raw: Redis, prefix: str
) -> None:
    await raw.set(prefix + "plan:planner", "garbage")
    runtime = AdaptiveRuntime(AdaptiveConfig(agent_id="planner"), backend=backend)
    with pytest.raises(StorageError, match="plan:planner"):
        await runtime.start()  # seeding the hot cache reads the plan
    await raw.delete(prefix + "plan:planner")
    async with runtime:
        await raw.set(prefix + "plan:planner", "garbage")
        for event in sample_events():
            await runtime.emit(event)
        await runtime.wait_for_idle()
        stats = runtime.drain.stats
        assert await backend.load_accumulators("planner") is not None
    assert stats.runs_stored == 40
    assert stats.learner_failures["tool_parallelism"] > 0


def test_value_over_the_redis_limit_is_rejected_before_sending(monkeypatch: Any) -> None:
    from adaptive.storage.redis import codec

    monkeypatch.setattr(codec, "MAX_VALUE_BYTES", 10)
    codec.check_size("k", b"x" * 10)
    with pytest.raises(StorageError, match="more than Redis's"):
        codec.check_size("k", b"x" * 11)


# -- configuration --------------------------------------------------------------------


def test_our_options_are_taken_out_of_the_url() -> None:
    backend = RedisBackend(
        "rediss://user:s3cret@cache:6380/2?key_prefix=app:&max_runs=10&run_ttl_s=1.5"
        "&socket_timeout=3"
    )
    assert backend.settings.key_prefix == "app:"
    assert backend.settings.max_runs_per_agent == 10
    assert backend.settings.run_ttl_s == 1.5
    assert backend.settings.run_ttl_ms == 1500
    assert "s3cret" not in repr(backend)
    assert "s3cret" not in repr(RedisBackend("unix:///run/redis.sock?db=1&password=s3cret"))
    client_url = backend.target.client_url
    assert "key_prefix" not in client_url and "socket_timeout=3" in client_url
    assert RedisBackend("redis://h").settings.key_prefix == "nemo_relay:"
    assert RedisBackend("redis://h", key_prefix="").settings.key_prefix == ""
    assert RedisBackend("redis://h?key_prefix=p:", key_prefix="p:").settings.key_prefix == "p:"


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("http://h", {}, "not a Redis URL"),
        ("redis://h?key_prefix=a:", {"key_prefix": "b:"}, "give it once"),
        ("redis://h?max_runs=0", {}, "positive"),
        ("redis://h?max_runs=1.5", {}, "positive"),
        ("redis://h?run_ttl_s=nan", {}, "positive"),
        ("redis://h?max_runs=1&max_runs_per_agent=2", {}, "twice"),
        ("redis://h", {"run_ttl_s": -1}, "positive"),
        ("redis://h", {"decode_responses": True}, "decode_responses"),
    ],
)
def test_bad_configuration_is_refused(url: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RedisBackend(url, **options)


async def test_from_config_takes_what_backend_spec_from_url_gives(redis_url: str) -> None:
    from adaptive.config import BackendSpec

    spec = BackendSpec.from_url(redis_url + "&max_runs=7&socket_timeout=5")
    backend = RedisBackend.from_config(spec.config)
    assert backend.settings.max_runs_per_agent == 7
    await backend.open()
    try:
        assert await add(backend, [run_with([])])
    finally:
        await backend.close()
    toml_like = RedisBackend.from_config(
        {
            "url": "redis://h/0",
            "key_prefix": "x:",
            "max_runs_per_agent": 3,
            "health_check_interval": 9,
        }
    )
    assert toml_like.settings.key_prefix == "x:" and toml_like.settings.max_runs_per_agent == 3
    with pytest.raises(ConfigError, match="needs a url"):
        RedisBackend.from_config({})


async def test_use_before_open_is_an_error() -> None:
    backend = RedisBackend("redis://127.0.0.1:1/0")
    with pytest.raises(StorageError, match="not open"):
        await backend.list_agents()


async def test_bad_client_options_are_configuration_errors(redis_server: str) -> None:
    with pytest.raises(ConfigError, match="bad Redis client option"):
        await RedisBackend(redis_server, no_such_option=1).open()
    with pytest.raises(ConfigError, match="bad Redis client option"):
        await RedisBackend(redis_server + "?socket_timeout=soon").open()
