"""``RedisBackend``: run history and learner state in Redis, as NeMo Relay keeps them.

Keys and values are NeMo Relay's (seed 003, DESIGN §4), so both runtimes share
one Redis in either direction::

    {prefix}runs:{agent}:{run_id}     JSON RunRecord
    {prefix}runs_index:{agent}        LIST of run ids, oldest first (RPUSH)
    {prefix}plan:{agent}              JSON ExecutionPlan
    {prefix}trie:{agent}              JSON TrieEnvelope
    {prefix}accumulators:{agent}      JSON AccumulatorState
    {prefix}acg_observations:{key}    JSON array of PromptIR
    {prefix}acg_stability:{key}       JSON StabilityAnalysisResult

Concurrency: NeMo Relay writes blindly (read, learn, SET), so two processes
learning for one agent lose each other's updates. Here a unit of work is
optimistic instead: it WATCHes every key it reads (``add_runs``: the run keys
and runs index; each ``load_*``: its key), stages its writes, and commits
them in one MULTI/EXEC. If another writer changed a watched key meanwhile,
Redis applies nothing and the unit runs again from scratch, up to
``max_attempts`` times with jittered exponential backoff; after that it
raises ``StorageUnavailableError`` and the drain retries the batch later.
Optimistic rather than a lock because Redis has no lock that survives a
client dying mid-unit without a lease to tune, and because writers of
different agents never touch the same keys, so conflicts are rare. NeMo
Relay processes sharing the Redis are still blind writers; their writes
make our units retry, never the other way around.

Retention (NeMo Relay keeps every run forever): ``max_runs_per_agent`` keeps
the newest N runs of each agent, trimming the index and deleting the run keys
that fall off in the same transaction that adds runs; ``run_ttl_s`` gives
each run key that TTL (and the index too, renewed on each push), and drops
expired runs from the head of the index as later runs are added. Runs are
deduplicated by the existence of their run key, so a run trimmed or expired
away is new again if it is ingested again: that is the price of retention.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit
from uuid import UUID

from adaptive.acg import PromptIR, StabilityAnalysisResult
from adaptive.errors import ConfigError, StorageError, StorageUnavailableError
from adaptive.intercepts.cohort_gate import RedisCohortGate
from adaptive.plan import ExecutionPlan
from adaptive.records import RunRecord
from adaptive.storage.keys import acg_key_belongs_to
from adaptive.storage.protocol import UnitOfWork
from adaptive.storage.redis import codec
from adaptive.storage.redis.codec import Codec, ValueKind
from adaptive.storage.redis.connection import (
    RedisClient,
    check_cluster_prefix,
    open_client,
    parse_url,
)
from adaptive.storage.redis.durability import warn_if_volatile
from adaptive.storage.redis.errors import ConcurrentUpdateError, short, translated_errors
from adaptive.storage.redis.keyspace import Keyspace, glob_escape
from adaptive.storage.redis.unit import RedisUnitOfWork, UnitContext
from adaptive.storage.redis.urls import OPTION_ALIASES, RedisSettings, settings_from
from adaptive.trie import AccumulatorState, TrieEnvelope

logger = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S")

MAX_ATTEMPTS: Final = 8
"""Runs of one unit before a lost race is reported as an outage (the drain retries later)."""
RETRY_BASE_DELAY_S: Final = 0.005
RUNS_PER_MGET: Final = 500
SCAN_COUNT: Final = 1000
AGENT_KINDS: Final = ("runs_index:", "plan:", "trie:", "accumulators:")
"""The keys whose existence makes an agent known (as the memory backend's dicts do)."""


class RedisBackend:
    """The ``StorageBackend`` for ``redis://``, ``rediss://`` (TLS), ``unix://`` URLs and
    Redis Cluster's ``redis+cluster://host:port[,host:port...]/`` (``rediss+cluster://``).

    ``key_prefix`` (default ``nemo_relay:``, NeMo Relay's), ``max_runs_per_agent``
    and ``run_ttl_s`` may also be given in the URL's query
    (``redis://host:6379/0?key_prefix=app:&max_runs=10000``); on a cluster the
    prefix must carry a hash tag (``{nemo_relay}:``, see ``connection.py``).
    Other keyword arguments go to ``redis.asyncio.Redis`` or ``RedisCluster``
    (``socket_timeout``, ``max_connections``, ``ssl_ca_certs``, ...).
    ``max_attempts`` bounds how often a unit of work that lost a race runs again.
    """

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str | None = None,
        max_runs_per_agent: int | None = None,
        run_ttl_s: float | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        **client_options: Any,
    ) -> None:
        self.url = url
        self.target = parse_url(url)
        self.settings: RedisSettings = settings_from(
            self.target.options, key_prefix, max_runs_per_agent, run_ttl_s
        )
        self.keyspace = Keyspace(self.settings.key_prefix)
        self.max_attempts = max_attempts
        if client_options.get("decode_responses"):
            raise ConfigError("the redis backend reads raw bytes; drop decode_responses")
        if self.target.cluster:  # at configuration time, not at open
            check_cluster_prefix(self.settings.key_prefix)
        self._client_options = client_options
        self._server = self.target.display
        self._codec = Codec()
        self._client: RedisClient | None = None
        self.check_persistence = True
        """Warn on open when the server keeps nothing on disk (off for a tiered hot tier)."""
        self.conflicts = 0
        """Units of work that lost a race and ran again (how contended the keys are)."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RedisBackend:
        """The backend a ``BackendSpec.config`` describes (``url`` plus options).

        Options that are also in the URL's query were copied from it by
        ``BackendSpec.from_url``; redis-py reads those from the URL itself.
        """
        url = config.get("url")
        if not isinstance(url, str) or not url:
            raise ConfigError(
                "backend kind 'redis' needs a url in state.backend.config "
                "(or name the backend by URL: --backend / ADAPTIVE_BACKEND)"
            )
        in_url = _query_names(url)
        options = {OPTION_ALIASES.get(name, name): value for name, value in config.items()}
        ours = {name: options.pop(name, None) for name in set(OPTION_ALIASES.values())}
        client_options = {
            name: value for name, value in options.items() if name != "url" and name not in in_url
        }
        return cls(url, **ours, **client_options)

    def __repr__(self) -> str:
        return f"RedisBackend({self._server!r}, key_prefix={self.settings.key_prefix!r})"

    @property
    def cluster(self) -> bool:
        """Whether the URL names a Redis Cluster (``redis+cluster://``)."""
        return self.target.cluster

    @property
    def client(self) -> RedisClient:
        """The open client; raises if the backend is not open."""
        if self._client is None:
            raise StorageError(f"{self!r} is not open; call open() first")
        return self._client

    def cohort_gate(self) -> RedisCohortGate:
        """Warm-first cohort gates shared by every process on this Redis and prefix."""
        return RedisCohortGate(lambda: self.client, self.settings.key_prefix)

    async def open(self) -> None:
        if self._client is None:
            self._client = await open_client(
                self.target, key_prefix=self.settings.key_prefix, **self._client_options
            )
            if self.check_persistence:
                await warn_if_volatile(self._client, self._server)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- units of work --------------------------------------------------------

    async def run_unit_of_work(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self._run_once(work)
            except ConcurrentUpdateError as conflict:
                self.conflicts += 1
                if attempt == self.max_attempts:
                    raise StorageUnavailableError(
                        f"gave up after {attempt} attempts to commit a unit of work "
                        f"against redis at {self._server}: {conflict}"
                    ) from conflict
                logger.debug("unit of work attempt %d lost a race, retrying: %s", attempt, conflict)
                await asyncio.sleep(random.uniform(0, RETRY_BASE_DELAY_S * 2**attempt))
        raise AssertionError("unreachable: max_attempts must be at least 1")

    async def _run_once(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``work`` once; commit if it returns; the pipeline's exit UNWATCHes either way."""
        client = self.client
        context = UnitContext(client, self.keyspace, self._codec, self.settings, self._server)
        async with client.pipeline(transaction=True) as pipe:
            unit = RedisUnitOfWork(context, pipe)
            result = await work(unit)
            await unit.commit()
            return result

    # -- reads ----------------------------------------------------------------

    async def load_plan(self, agent_id: str) -> ExecutionPlan | None:
        return await self._load(self.keyspace.plan(agent_id), codec.PLAN)

    async def load_trie(self, agent_id: str) -> TrieEnvelope | None:
        return await self._load(self.keyspace.trie(agent_id), codec.TRIE)

    async def load_accumulators(self, agent_id: str) -> AccumulatorState | None:
        return await self._load(self.keyspace.accumulators(agent_id), codec.ACCUMULATORS)

    async def load_stability(self, key: str) -> StabilityAnalysisResult | None:
        return await self._load(self.keyspace.stability(key), codec.STABILITY)

    async def load_observations(self, key: str) -> list[PromptIR] | None:
        redis_key = self.keyspace.observations(key)
        return self._codec.decode_window(redis_key, await self._get(redis_key, "ACG observations"))

    async def _load(self, key: str, kind: ValueKind[S]) -> S | None:
        return self._codec.decode(key, await self._get(key, f"the {kind.name}"), kind)

    async def _get(self, key: str, what: str) -> bytes | None:
        with translated_errors(f"loading {what} at {short(key)}", self._server):
            raw = await self.client.get(key)
        return cast("bytes | None", raw)

    async def list_agents(self) -> list[str]:
        agents: set[str] = set()
        for kind in AGENT_KINDS:
            start = len(self.keyspace.prefix + kind)
            async for key in self._scan(self.keyspace.pattern(kind), "listing agents"):
                agents.add(key[start:])
        return sorted(agents)

    async def list_run_ids(self, agent_id: str) -> list[UUID]:
        index = self.keyspace.runs_index(agent_id)
        with translated_errors(f"listing the runs index {short(index)}", self._server):
            ids = cast("list[bytes]", await self.client.lrange(index, 0, -1))
        try:
            return [UUID(run_id.decode()) for run_id in ids]
        except ValueError as error:
            raise StorageError(
                f"redis key {short(index)} holds an invalid run id: {error}"
            ) from error

    async def load_runs(self, agent_id: str, run_ids: Sequence[UUID]) -> list[RunRecord]:
        if not run_ids:
            return []
        keys = [self.keyspace.run(agent_id, run_id) for run_id in run_ids]
        with translated_errors(f"loading {len(keys)} run(s) of {short(agent_id)}", self._server):
            async with self.client.pipeline(transaction=False) as reads:
                for start in range(0, len(keys), RUNS_PER_MGET):
                    # by name: redis-py's cluster pipeline has no mget(), though an
                    # MGET of one slot's keys (all of a braced prefix) runs there
                    reads.execute_command("MGET", *keys[start : start + RUNS_PER_MGET])
                pages: list[list[bytes | None]] = await reads.execute()
        values = [raw for page in pages for raw in page]
        return [
            codec.decode_run(key, raw)
            for key, raw in zip(keys, values, strict=True)
            if raw is not None
        ]

    async def list_acg_keys(self, agent_id: str) -> list[str]:
        found: set[str] = set()
        for name in ("acg_observations:", "acg_stability:"):
            literal = self.keyspace.prefix + name
            pattern = glob_escape(literal + agent_id) + "*"
            async for key in self._scan(pattern, f"listing the ACG keys of {short(agent_id)}"):
                found.add(key[len(literal) :])
        return sorted(key for key in found if acg_key_belongs_to(key, agent_id))

    async def _scan(self, pattern: str, action: str) -> AsyncIterator[str]:
        """Keys matching ``pattern`` (SCAN, never KEYS: a big keyspace must not block Redis)."""
        with translated_errors(action, self._server):
            async for key in self.client.scan_iter(match=pattern, count=SCAN_COUNT):
                try:
                    yield key.decode()
                except UnicodeDecodeError:
                    logger.warning("skipping redis key that is not UTF-8: %r", key[:120])


def _query_names(url: str) -> set[str]:
    return {name for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
