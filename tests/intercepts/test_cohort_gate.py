"""Cohort gates: one primer per cohort, followers released at once or after 150 ms at most."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest
from redis.asyncio.cluster import RedisCluster

from adaptive.errors import ConfigError
from adaptive.intercepts import (
    WARM_FIRST_MAX_WAIT_S,
    CohortRole,
    LocalCohortGate,
    RedisCohortGate,
    cohort_key,
)
from adaptive.storage.redis import RedisBackend
from tests.conftest import ThrowawayRedisCluster

SLACK_S = 0.1  # scheduling and round-trip slack on a busy 2-core machine
CAP_SLACK_S = 0.05  # the cap is a client-side timer: well under Redis's 100 ms server tick


def test_cohort_key_names_root_parent_and_group() -> None:
    root, parent = uuid4(), uuid4()
    assert cohort_key(root, parent, "fanout:sha256:98257") == f"{root}:{parent}:fanout:sha256:98257"


# -- in one process ----------------------------------------------------------------------


async def test_local_first_caller_is_primer_and_followers_wait_for_it() -> None:
    gate = LocalCohortGate()
    order: list[str] = []

    async def primer() -> None:
        assert await gate.join("c") is CohortRole.PRIMER
        await asyncio.sleep(0.03)
        order.append("primer done")
        await gate.release("c")

    async def follower(name: str) -> None:
        assert await gate.join("c") is CohortRole.FOLLOWER
        assert await gate.wait("c")
        order.append(name)

    first = asyncio.create_task(primer())
    await asyncio.sleep(0)
    await asyncio.gather(first, follower("f1"), follower("f2"))
    assert order == ["primer done", "f1", "f2"]
    assert len(gate) == 0  # no entry outlives its cohort


async def test_local_follower_of_a_hung_primer_runs_after_the_cap() -> None:
    gate = LocalCohortGate()
    assert await gate.join("c") is CohortRole.PRIMER
    assert await gate.join("c") is CohortRole.FOLLOWER
    started = time.monotonic()
    assert not await gate.wait("c")
    assert WARM_FIRST_MAX_WAIT_S <= time.monotonic() - started < WARM_FIRST_MAX_WAIT_S + SLACK_S


async def test_local_after_release_the_next_caller_starts_a_new_cohort() -> None:
    gate = LocalCohortGate()
    assert await gate.join("c") is CohortRole.PRIMER
    await gate.release("c")
    assert await gate.wait("c")  # nothing to wait for
    assert await gate.join("c") is CohortRole.PRIMER
    assert await gate.join("other") is CohortRole.PRIMER


# -- across processes ----------------------------------------------------------------------


@pytest.fixture(params=["redis", "redis-cluster"])
def gate_url(request: pytest.FixtureRequest) -> str:
    """A Redis URL with a key prefix of the test's own: one server, then a three-node cluster."""
    fixture = "redis_url" if request.param == "redis" else "redis_cluster_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def url_gate(gate_url: str) -> AsyncIterator[RedisCohortGate]:
    """A gate with a client of its own, built from the URL as a worker process builds it."""
    gate = RedisCohortGate.from_url(gate_url)
    try:
        yield gate
    finally:
        await gate.aclose()


def run_workers(redis_url: str, hold_s: float, cohorts: list[str], count: int) -> list[Any]:
    prefix = RedisBackend(redis_url).settings.key_prefix
    server = redis_url.split("?")[0]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.intercepts.gate_worker",
                server,
                prefix,
                str(hold_s),
                *cohorts,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for worker in workers:  # every process connected before any joins
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready", worker.stderr
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        results.extend(json.loads(line) for line in out.splitlines())
    return results


def test_one_primer_per_cohort_across_processes_and_followers_released_early(
    gate_url: str,
) -> None:
    cohorts = [f"cohort-{index}" for index in range(10)]
    results = run_workers(gate_url, hold_s=0.1, cohorts=cohorts, count=4)
    primers = Counter(r["cohort"] for r in results if r["role"] == "primer")
    assert primers == dict.fromkeys(cohorts, 1)
    released_at = {r["cohort"]: r["released_at"] for r in results if r["role"] == "primer"}
    followers = [r for r in results if r["role"] == "follower"]
    assert len(followers) == 30
    for follower in followers:
        assert follower["released"], follower
        assert follower["waited_s"] < WARM_FIRST_MAX_WAIT_S  # released by the primer, not the cap
        assert follower["resumed_at"] >= released_at[follower["cohort"]] - 0.005


async def test_followers_of_a_dead_primer_wait_no_longer_than_the_cap(
    gate_url: str, url_gate: RedisCohortGate
) -> None:
    cohort = f"dead-{uuid4().hex}"
    (primer,) = run_workers(gate_url, hold_s=-1, cohorts=[cohort], count=1)
    assert primer["role"] == "primer"
    gate, client = url_gate, url_gate.client
    assert await gate.join(cohort) is CohortRole.FOLLOWER
    for _ in range(3):  # Redis's own blocking timeout would overshoot by up to its 100 ms tick
        started = time.monotonic()
        assert not await gate.wait(cohort)
        waited = time.monotonic() - started
        assert WARM_FIRST_MAX_WAIT_S - 0.01 <= waited < WARM_FIRST_MAX_WAIT_S + CAP_SLACK_S
    assert await client.ping()  # the client stays usable after an abandoned BLPOP
    assert await client.pttl(f"{gate.key_prefix}cohort_gate:{cohort}") > 0
    # a token pushed after the abandoned BLPOP reaches the next waiter, not a stale reply
    await client.rpush(f"{gate.key_prefix}cohort_release:{cohort}", "1")
    assert await gate.wait(cohort)


async def test_redis_gate_keys_expire_after_release(url_gate: RedisCohortGate) -> None:
    prefix, client = url_gate.key_prefix, url_gate.client
    gate = RedisCohortGate(client, prefix, release_ttl_s=0.2)
    assert await gate.join("c") is CohortRole.PRIMER
    await gate.release("c")
    assert not await client.exists(f"{prefix}cohort_gate:c")
    assert await gate.join("c") is CohortRole.PRIMER  # a new cohort after the release
    await gate.release("c")
    await asyncio.sleep(0.3)
    assert not await client.exists(f"{prefix}cohort_release:c")


async def test_gate_on_a_cluster_keeps_a_cohorts_keys_in_the_prefixs_slot(
    redis_cluster_url: str,
) -> None:
    gate = RedisCohortGate.from_url(redis_cluster_url)
    try:
        client = gate.client
        assert isinstance(client, RedisCluster)
        cohort = cohort_key(uuid4(), uuid4(), "fanout:sha256:98257")
        assert await gate.join(cohort) is CohortRole.PRIMER
        assert await gate.join(cohort) is CohortRole.FOLLOWER
        gate_key = f"{gate.key_prefix}cohort_gate:{cohort}"
        release_key = f"{gate.key_prefix}cohort_release:{cohort}"
        assert client.keyslot(gate_key) == client.keyslot(release_key)
        waiter = asyncio.create_task(gate.wait(cohort))
        await asyncio.sleep(0.02)
        await gate.release(cohort)  # one MULTI/EXEC on the slot's primary
        assert await waiter
        assert not await client.exists(gate_key)
    finally:
        await gate.aclose()


async def test_gate_on_a_cluster_refuses_an_unbraced_prefix(
    redis_cluster: ThrowawayRedisCluster,
) -> None:
    with pytest.raises(ConfigError, match=r"no hash tag.*key_prefix=\{nemo_relay\}:"):
        RedisCohortGate.from_url(f"redis+cluster://{redis_cluster.seeds}")  # nemo_relay:
    client = RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
    try:
        with pytest.raises(ConfigError, match=r"key_prefix=\{app\}:"):
            RedisCohortGate(client, "app:")
        RedisCohortGate(client, "{app}:")
    finally:
        await client.aclose()
