"""RedisBackend on a real three-node Redis Cluster: URLs, hash-tagged prefixes, races, keys.

The protocol suite (``test_protocol.py``) and the cohort gate tests run on the
cluster too; this file holds what is particular to a cluster.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from adaptive.config import AdaptiveConfig, BackendSpec
from adaptive.errors import ConfigError, StorageError, StorageUnavailableError
from adaptive.intercepts import CohortRole, RedisCohortGate
from adaptive.plan import ParallelGroup
from adaptive.records import RunRecord
from adaptive.storage.export import export_state
from adaptive.storage.factory import create_backend
from adaptive.storage.protocol import StateChanges, UnitOfWork
from adaptive.storage.redis import RedisBackend
from adaptive.storage.redis.connection import create_client, parse_url
from adaptive.storage.redis.keyspace import glob_escape, hash_tag
from tests.conftest import ThrowawayRedis, ThrowawayRedisCluster, _free_ports, _wait_until
from tests.factories import load_sample_state, run_with
from tests.storage.support import (
    add,
    learned_from,
    plan,
    sample_events,
    sample_state_as_a_unit,
    save,
    store_unit,
)
from tests.storage.support import opened as open_backend


def opened(url: str, **options: Any) -> AbstractAsyncContextManager[RedisBackend]:
    return open_backend(RedisBackend(url, **options))


@pytest.fixture
async def raw(redis_cluster: ThrowawayRedisCluster) -> AsyncIterator[RedisCluster]:
    """A cluster client of the test's own, writing keys as a blind writer (NeMo Relay) would."""
    client = RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
    try:
        yield client
    finally:
        await client.aclose()


async def dump(client: Redis | RedisCluster, prefix: str) -> dict[str, Any]:
    """Every key under ``prefix``, unprefixed, with its raw value (a list as a list)."""
    found: dict[str, Any] = {}
    async for key in client.scan_iter(match=glob_escape(prefix) + "*", count=1000):
        name = key.decode().removeprefix(prefix)
        if await client.type(key) == b"list":
            found[name] = await client.lrange(key, 0, -1)
        else:
            found[name] = await client.get(key)
    return found


# -- URLs and prefixes (no server) ----------------------------------------------------


def test_cluster_urls_name_seed_nodes_and_keep_our_options_out() -> None:
    target = parse_url(
        "rediss+cluster://user:s3cret@a.example:7000,b.example,[::1]:7002/"
        "?key_prefix={app}:&max_runs=10&socket_timeout=3"
    )
    assert target.cluster
    assert target.seeds == (("a.example", 7000), ("b.example", 6379), ("::1", 7002))
    assert target.options == {"key_prefix": "{app}:", "max_runs_per_agent": "10"}
    assert target.client_url == "rediss://user:s3cret@a.example:7000/0?socket_timeout=3"
    assert "s3cret" not in target.display and "b.example,[::1]:7002" in target.display
    assert not parse_url("redis://h:6379/0").cluster

    backend = RedisBackend("redis+cluster://:s3cret@h:7000/?key_prefix=%7Bnemo_relay%7D:")
    assert backend.cluster and backend.settings.key_prefix == "{nemo_relay}:"
    assert "s3cret" not in repr(backend)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://h:7000/3?key_prefix={a}:", "only database 0"),
        ("redis+cluster://h:7000,:7001/?key_prefix={a}:", "bad seed node ':7001'"),
        ("redis+cluster://h:99999/?key_prefix={a}:", "bad seed node"),
        ("redis+cluster://h:port/?key_prefix={a}:", "bad seed node"),
        ("redis+cluster://h:7000/", r"'nemo_relay:' has no hash tag.*\{nemo_relay\}:"),
        ("redis+cluster://h:7000/?key_prefix=app:", r"key_prefix=\{app\}:"),
        ("redis+cluster://h:7000/?key_prefix={}app:", r"key_prefix=\{app\}:"),
        ("redis+cluster://h:7000/?key_prefix=app:{", "no hash tag"),
    ],
)
def test_bad_cluster_urls_are_refused_saying_what_to_write(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RedisBackend(url)


async def test_a_cluster_client_may_not_retry_by_itself() -> None:
    url = "redis+cluster://h:7000/?key_prefix={a}:"
    with pytest.raises(ConfigError, match="must not retry by itself"):
        create_client(url, key_prefix="{a}:", retry=Retry(NoBackoff(), 3))
    with pytest.raises(ConfigError, match="must not retry by itself"):
        await RedisBackend(url, cluster_error_retry_attempts=2).open()
    client = create_client(url, key_prefix="{a}:")
    assert isinstance(client, RedisCluster) and client.retry.get_retries() == 0


def test_backend_urls_name_the_cluster_as_a_redis_backend() -> None:
    for scheme in ("redis+cluster", "rediss+cluster"):
        spec = BackendSpec.from_url(f"{scheme}://h:7000,h:7001/?key_prefix={{a}}:&max_runs=3")
        backend = create_backend(spec)
        assert isinstance(backend, RedisBackend) and backend.cluster
        assert backend.settings.max_runs_per_agent == 3
    with pytest.raises(ConfigError, match=r"redis\+cluster://host:7000"):
        BackendSpec.from_url("rediscluster://h:7000")


async def test_hash_tags_are_the_ones_redis_cluster_hashes(raw: RedisCluster) -> None:
    prefixes = ["{nemo_relay}:", "app:{tenant-7}:", "{a}{b}:", "{}{x}:", "x{:", "app:", ""]
    for prefix in prefixes:
        tag = hash_tag(prefix)
        slots = {
            await raw.cluster_keyslot(prefix + suffix)
            for suffix in ("runs:a:1", "plan:b", "acg_stability:{c}::model=x", "runs_index:🙂")
        }
        if tag is None:
            assert len(slots) > 1, prefix  # scattered: the refusal is needed
        else:
            assert slots == {await raw.cluster_keyslot(tag)}, prefix


# -- against the cluster ----------------------------------------------------------------


async def test_unit_that_lost_a_race_runs_again(
    redis_cluster_url: str, cluster_prefix: str, raw: RedisCluster
) -> None:
    """A blind writer changes a key this unit watched: EXEC applies nothing, the unit reruns."""

    async def meanwhile(unit: UnitOfWork, attempt: int) -> None:
        if attempt == 1:
            await raw.set(cluster_prefix + "plan:a", plan("a", "theirs").to_wire_json())

    async with opened(redis_cluster_url) as backend:
        await save(backend, "a", StateChanges(plans={"a": plan("a", "original")}))
        attempts, work = appending("mine", meanwhile)
        await backend.run_unit_of_work(work)
        assert attempts == [1, 2] and backend.conflicts == 1
        stored = await backend.load_plan("a")
    assert stored is not None
    assert [group.group_id for group in stored.parallel_groups] == ["theirs", "mine-2"]


async def kill_connections(
    redis_cluster: ThrowawayRedisCluster, name: str, last_command: str | None = None
) -> int:
    """Kill the clients called ``name`` (whose last command was ``last_command``) on every node."""
    killed = 0
    for node in redis_cluster.nodes:
        client = Redis(port=node.port)
        try:
            for connection in await client.client_list():
                if connection.get("name") == name and last_command in (None, connection["cmd"]):
                    killed += await client.client_kill_filter(_id=connection["id"])
        finally:
            await client.aclose()
    return killed


def appending(
    label: str, before_commit: Callable[[UnitOfWork, int], Awaitable[None]]
) -> tuple[list[int], Callable[[UnitOfWork], Awaitable[None]]]:
    """A unit appending a group to plan ``a``, running ``before_commit`` after the read."""
    attempts: list[int] = []

    async def work(unit: UnitOfWork) -> None:
        attempts.append(len(attempts) + 1)
        loaded = await unit.load_plan("a")
        assert loaded is not None
        await before_commit(unit, len(attempts))
        group = ParallelGroup(group_id=f"{label}-{len(attempts)}", tool_names=[])
        updated = loaded.model_copy(update={"parallel_groups": [*loaded.parallel_groups, group]})
        unit.save("a", StateChanges(plans={"a": updated}))

    return attempts, work


@pytest.mark.parametrize("lost_before", ["a later WATCH", "EXEC"])
async def test_a_unit_whose_watching_connection_died_runs_again(
    redis_cluster: ThrowawayRedisCluster,
    redis_cluster_url: str,
    cluster_prefix: str,
    raw: RedisCluster,
    lost_before: str,
) -> None:
    """redis-py's cluster pipeline would resend WATCH/EXEC on a new connection without the
    lost WATCHes and overwrite the other writer; the unit must run again instead."""
    name = f"unit-{uuid.uuid4().hex[:8]}"

    async def meanwhile(unit: UnitOfWork, attempt: int) -> None:
        if attempt == 1:
            await raw.set(cluster_prefix + "plan:a", plan("a", "theirs").to_wire_json())
            assert await kill_connections(redis_cluster, name, last_command="watch") == 1
            if lost_before == "a later WATCH":
                await unit.load_trie("a")

    async with opened(redis_cluster_url, client_name=name) as backend:
        await save(backend, "a", StateChanges(plans={"a": plan("a", "original")}))
        attempts, work = appending("mine", meanwhile)
        await backend.run_unit_of_work(work)
        stored = await backend.load_plan("a")
    assert attempts == [1, 2] and backend.conflicts == 1
    assert stored is not None
    assert [group.group_id for group in stored.parallel_groups] == ["theirs", "mine-2"]


async def test_a_unit_cut_off_from_the_cluster_writes_nothing_until_run_again(
    redis_cluster: ThrowawayRedisCluster,
    redis_cluster_url: str,
    cluster_prefix: str,
    raw: RedisCluster,
) -> None:
    """Every connection of the client gone (a node restart, say): the unit reruns or reports
    an outage the drain retries; either way the other writer's update stays."""
    name = f"unit-{uuid.uuid4().hex[:8]}"

    async def meanwhile(unit: UnitOfWork, attempt: int) -> None:
        if attempt == 1:
            await raw.set(cluster_prefix + "plan:a", plan("a", "theirs").to_wire_json())
            assert await kill_connections(redis_cluster, name) >= 1

    async with opened(redis_cluster_url, client_name=name) as backend:
        await save(backend, "a", StateChanges(plans={"a": plan("a", "original")}))
        attempts, work = appending("mine", meanwhile)
        for _ in range(3):  # as the drain retries an outage
            try:
                await backend.run_unit_of_work(work)
                break
            except StorageUnavailableError:
                continue
        stored = await backend.load_plan("a")
    assert stored is not None
    groups = [group.group_id for group in stored.parallel_groups]
    assert groups == ["theirs", f"mine-{len(attempts)}"] and len(attempts) > 1


async def test_run_added_by_another_writer_meanwhile_is_not_stored_twice(
    redis_cluster_url: str,
) -> None:
    run = run_with([])
    async with opened(redis_cluster_url) as mine, opened(redis_cluster_url) as theirs:
        returned: list[list[RunRecord]] = []

        async def work(unit: UnitOfWork) -> None:
            returned.append(await unit.add_runs([run]))
            if len(returned) == 1:
                assert await add(theirs, [run]) == [run]

        await mine.run_unit_of_work(work)
        assert returned == [[run], []]
        assert await mine.list_run_ids("a") == [run.id]


async def test_concurrent_writers_lose_no_update(redis_cluster_url: str) -> None:
    async def append(backend: RedisBackend, group: str) -> None:
        async def work(unit: UnitOfWork) -> None:
            current = await unit.load_plan("a") or plan("a")
            await asyncio.sleep(0.001)  # widen the race window
            groups = [*current.parallel_groups, ParallelGroup(group_id=group, tool_names=[])]
            updated = current.model_copy(update={"parallel_groups": groups})
            unit.save("a", StateChanges(plans={"a": updated}))

        await backend.run_unit_of_work(work)

    async with (
        opened(redis_cluster_url, max_attempts=50) as first,
        opened(redis_cluster_url, max_attempts=50) as second,
    ):
        await asyncio.gather(
            *(append(first, f"first-{n}") for n in range(8)),
            *(append(second, f"second-{n}") for n in range(8)),
        )
        stored = await first.load_plan("a")
        conflicts = first.conflicts + second.conflicts
    assert stored is not None
    assert sorted(group.group_id for group in stored.parallel_groups) == sorted(
        [f"first-{n}" for n in range(8)] + [f"second-{n}" for n in range(8)]
    )
    assert conflicts > 0, "the units never raced"


async def test_retention_on_the_cluster(
    redis_cluster_url: str, cluster_prefix: str, raw: RedisCluster
) -> None:
    """Cap and TTL: SET PX per run, LTRIM, RPUSH, PEXPIRE and DEL in one cluster transaction."""
    async with opened(redis_cluster_url, max_runs_per_agent=3, run_ttl_s=60) as backend:
        runs = [run_with([]) for _ in range(5)]
        await add(backend, runs[:2])
        await raw.delete(f"{cluster_prefix}runs:a:{runs[0].id}")  # as if expired
        await add(backend, runs[2:])
        assert await backend.list_run_ids("a") == [run.id for run in runs[2:]]
        keys = [f"{cluster_prefix}runs:a:{run.id}" for run in runs]
        assert [bool(await raw.exists(key)) for key in keys] == [False, False, True, True, True]
        assert 0 < await raw.pttl(keys[-1]) <= 60_000
        assert 0 < await raw.pttl(f"{cluster_prefix}runs_index:a") <= 60_000


@pytest.mark.parametrize("where", ["redis", "redis-cluster"])
async def test_a_big_unit_is_written_in_several_msets(
    request: pytest.FixtureRequest, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adaptive.storage.redis import unit

    monkeypatch.setattr(unit, "MSET_MAX_BYTES", 2_000)  # a few runs per MSET
    url = request.getfixturevalue("redis_url" if where == "redis" else "redis_cluster_url")
    runs = [run_with([], agent=f"agent-{n % 3}") for n in range(40)]
    changes = StateChanges(plans={f"agent-{n}": plan(f"agent-{n}", "g") for n in range(3)})
    async with opened(url) as backend:

        async def work(unit_of_work: UnitOfWork) -> None:
            assert await unit_of_work.add_runs(runs) == runs
            unit_of_work.save("agent-0", changes)

        await backend.run_unit_of_work(work)
        for n in range(3):
            stored = await backend.load_runs(f"agent-{n}", [run.id for run in runs])
            assert [run.id for run in stored] == [r.id for r in runs if r.agent_id == f"agent-{n}"]
            assert await backend.load_plan(f"agent-{n}") == changes.plans[f"agent-{n}"]


async def test_keys_are_the_plain_backends_under_the_same_braced_prefix(
    redis_server: str, redis_cluster_url: str, cluster_prefix: str, raw: RedisCluster
) -> None:
    """Byte for byte: what we (and NeMo Relay, with that prefix) write on one server."""
    plain_url = f"{redis_server}?key_prefix={cluster_prefix}"
    plain = Redis.from_url(redis_server)
    try:
        records, changes = sample_state_as_a_unit(load_sample_state())
        helper = run_with([], agent="helper")
        for url in (plain_url, redis_cluster_url):
            async with opened(url, max_runs_per_agent=1000) as backend:
                await store_unit(backend, "planner", records, changes)
                await add(backend, [helper])
        on_cluster = await dump(raw, cluster_prefix)
        assert on_cluster == await dump(plain, cluster_prefix)
        assert {"runs_index:planner", "plan:planner", "trie:planner"} <= set(on_cluster)
    finally:
        keys = [key async for key in plain.scan_iter(match=glob_escape(cluster_prefix) + "*")]
        if keys:
            await plain.delete(*keys)
        await plain.aclose()


async def test_units_and_gates_use_only_keys_in_the_prefixs_slot(
    redis_cluster: ThrowawayRedisCluster, cluster_prefix: str, raw: RedisCluster
) -> None:
    """A user allowed only the prefix's keys learns a whole trace (with retention) and gates
    cohorts: no command touched a key of another slot, or the cluster would say NOPERM."""
    user, password = f"slot_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    rule = ["on", f">{password}", f"~{glob_escape(cluster_prefix)}*", "&*", "+@all"]
    for node in redis_cluster.nodes:
        admin = Redis(port=node.port)
        try:
            await admin.execute_command("ACL", "SETUSER", user, *rule)
        finally:
            await admin.aclose()
    url = redis_cluster.url(cluster_prefix).replace("://", f"://{user}:{password}@", 1)
    try:
        backend = RedisBackend(url, max_runs_per_agent=30, run_ttl_s=600)
        learned = await learned_from(sample_events(), backend)
        assert learned["runs_index:planner"] and learned["plan:planner"]
        gate = RedisCohortGate.from_url(url)
        try:
            assert await gate.join("cohort") is CohortRole.PRIMER
            await gate.release("cohort")
            assert await gate.wait("cohort")
        finally:
            await gate.aclose()
        keys = [key async for key in raw.scan_iter(match=glob_escape(cluster_prefix) + "*")]
        slot = await raw.cluster_keyslot(keys[0])
        assert len(keys) > 40 and await raw.cluster_countkeysinslot(slot) >= len(keys)
        with pytest.raises(StorageError, match="no permissions"):  # the rule bites
            async with opened(url.replace(cluster_prefix, "{elsewhere}:")) as outside:
                await add(outside, [run_with([])])
    finally:
        for node in redis_cluster.nodes:
            admin = Redis(port=node.port)
            try:
                await admin.execute_command("ACL", "DELUSER", user)
            finally:
                await admin.aclose()


async def test_runtime_on_the_cluster_learns_what_one_server_learns(
    redis_url: str, redis_cluster_url: str
) -> None:
    from tests.storage.support import without_fresh_ids

    on_server = await learned_from(sample_events(), RedisBackend(redis_url))
    on_cluster = await learned_from(sample_events(), RedisBackend(redis_cluster_url))
    assert without_fresh_ids(on_cluster) == without_fresh_ids(on_server)


async def test_a_cluster_is_a_hot_tier_and_gates_cohorts(
    sqlite_url: str, redis_cluster_url: str
) -> None:
    from adaptive.config import BackendKind, StateConfig
    from adaptive.runtime import AdaptiveRuntime

    spec = BackendSpec(
        kind=BackendKind.TIERED, config={"durable": sqlite_url, "hot": redis_cluster_url}
    )
    config = AdaptiveConfig(agent_id="planner", state=StateConfig(backend=spec))
    async with AdaptiveRuntime(config) as runtime:
        assert isinstance(runtime.warm_first.gate, RedisCohortGate)
        for event in sample_events():
            await runtime.emit(event)
        await runtime.wait_for_idle()
        assert await runtime.warm_first.gate.join("c") is CohortRole.PRIMER
        await runtime.warm_first.gate.release("c")
    async with opened(redis_cluster_url) as hot:
        copy = await export_state(hot, "planner")
    async with open_backend(create_backend(BackendSpec.from_url(sqlite_url))) as durable:
        assert copy == await export_state(durable, "planner")
    assert len(copy["runs_index:planner"]) == 40


@pytest.fixture
def tls_cluster(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A one-node cluster (every slot on it) answering TLS on one port, plain on another
    (for set-up), and announcing the TLS one; its TLS port and the CA file that verifies it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is not installed: the TLS cluster test makes a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    port, bus_port, tls_port = _free_ports(3)
    node = ThrowawayRedis(
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        str(bus_port),
        "--tls-port",
        str(tls_port),
        "--tls-cert-file",
        str(cert),
        "--tls-key-file",
        str(key),
        "--tls-ca-cert-file",
        str(cert),
        "--tls-auth-clients",
        "no",
        "--tls-cluster",
        "yes",  # the node then gives clients its TLS port in CLUSTER SLOTS
        port=port,
    )
    try:
        node.start()
        admin = SyncRedis(port=node.port)
        try:
            admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            _wait_until(lambda: admin.cluster("info")["cluster_state"] == "ok", "TLS cluster")
        finally:
            admin.close()
        yield tls_port, cert
    finally:
        node.close()


async def test_rediss_cluster_urls_speak_tls(tls_cluster: tuple[int, Path]) -> None:
    port, ca = tls_cluster
    url = f"rediss+cluster://127.0.0.1:{port}/?key_prefix={{tls}}:&ssl_ca_certs={ca}"
    learned = await learned_from(sample_events(), RedisBackend(url))
    assert len(learned["runs_index:planner"]) == 40
    gate = RedisCohortGate.from_url(url)
    try:
        assert await gate.join("c") is CohortRole.PRIMER
        await gate.release("c")
    finally:
        await gate.aclose()
    with pytest.raises(StorageUnavailableError, match="certificate verify failed"):
        async with opened(url.split("&")[0]):  # the server's certificate is not trusted
            pass


# -- errors --------------------------------------------------------------------------


async def test_unreachable_cluster_is_unavailable() -> None:
    with pytest.raises(StorageUnavailableError, match="unavailable while opening"):
        async with opened("redis+cluster://127.0.0.1:1/?key_prefix={a}:"):
            pass


async def test_a_cluster_url_naming_a_single_server_is_refused(redis_server: str) -> None:
    single = redis_server.split("://", 1)[1].rsplit("/", 1)[0]
    with pytest.raises(ConfigError, match=r"is not a Redis Cluster.*redis://"):
        async with opened(f"redis+cluster://{single}/?key_prefix={{a}}:"):
            pass


async def test_a_single_server_url_naming_a_cluster_node_is_refused(
    redis_cluster: ThrowawayRedisCluster,
) -> None:
    with pytest.raises(ConfigError, match=r"is a Redis Cluster node.*redis\+cluster://"):
        async with opened(redis_cluster.nodes[0].url + "?key_prefix={a}:"):
            pass


async def test_bad_cluster_client_options_are_configuration_errors(
    redis_cluster_url: str,
) -> None:
    with pytest.raises(ConfigError, match="bad Redis client option"):
        await RedisBackend(redis_cluster_url, no_such_option=1).open()
    with pytest.raises(ConfigError, match="bad Redis client option"):
        await RedisBackend(redis_cluster_url + "&socket_timeout=soon").open()
