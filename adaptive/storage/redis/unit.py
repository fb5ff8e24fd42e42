"""One unit of work: reads under WATCH, writes in one MULTI/EXEC.

Every key the unit's outcome depends on is WATCHed on the unit's own
connection before it is read: the run keys and runs index of each batch
(``add_runs``) and each state key a learner loads. Reads go through a second
pooled connection, pipelined, after the WATCH has returned, so anything they
miss changed a watched key. ``commit`` queues every write (runs, index
pushes, retention trims, learner state) between MULTI and EXEC; if any
watched key changed since its WATCH, Redis discards the whole transaction,
and the backend runs the unit again from scratch. Losing the connection that
holds the WATCHes counts as such a change: the unit cannot know what it missed.

Round trips per unit do not grow with its runs: one WATCH and one pipelined
EXISTS per ``add_runs``, a WATCH and a GET per loaded key, the EXEC, and with
retention on, one or two pipelined reads of the runs index heads. Commands
queued in the transaction do not grow with its runs either unless runs get a
TTL: one MSET takes the runs and every learner state. That matters on a Redis
Cluster, where redis-py (8.1) spends a thread and an event loop on each
command queued in a transaction (about a millisecond each).

On a cluster the pipeline is redis-py's cluster transaction pipeline: every
key it watches or writes must be in one slot (the braced key prefix sees to
that), and it raises ``CrossSlotTransactionError`` rather than split one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, TypeVar, cast

from redis import exceptions as redis_errors
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline

from adaptive.acg import PromptIR, StabilityAnalysisResult
from adaptive.errors import StorageError, StorageUnavailableError
from adaptive.plan import ExecutionPlan
from adaptive.records import RunRecord
from adaptive.storage.protocol import StateChanges
from adaptive.storage.redis import codec
from adaptive.storage.redis.codec import Codec, ValueKind
from adaptive.storage.redis.connection import RedisClient
from adaptive.storage.redis.errors import short, translated_errors
from adaptive.storage.redis.keyspace import Keyspace
from adaptive.storage.redis.urls import RedisSettings
from adaptive.trie import AccumulatorState, TrieEnvelope

S = TypeVar("S")

EXPIRED_SWEEP: Final = 64
"""Extra index entries a commit checks for expired runs, so a backlog shrinks."""
MAX_TRIM_PER_UNIT: Final = 10_000
"""Old runs one commit deletes at most; an index far over the cap shrinks over several."""
MSET_MAX_BYTES: Final = 64 * 1024 * 1024
"""Values one MSET carries at most: Redis buffers a whole command before running it, and
drops a client whose buffered command passes ``client-query-buffer-limit`` (1 GiB)."""


@dataclass
class _AgentTrim:
    """How one agent's runs index changes on commit."""

    expired: int = 0
    """Leading index entries whose runs expired."""
    over_cap: int = 0
    """Entries after those that fall off under the cap; their run keys are deleted."""
    skipped_new: int = 0
    """Leading new runs not written at all: the batch alone is over the cap."""
    deleted_runs: list[str] = field(default_factory=list)
    """Run keys of the ``over_cap`` entries."""

    @property
    def drop_head(self) -> int:
        return self.expired + self.over_cap


class _EncodedRun(NamedTuple):
    key: str
    run_id: str
    raw: bytes


@dataclass(frozen=True)
class UnitContext:
    """What a unit of work needs from its backend."""

    client: RedisClient
    keyspace: Keyspace
    codec: Codec
    settings: RedisSettings
    server: str


class RedisUnitOfWork:
    """Stages runs and learner state on a watching pipeline (see module docstring)."""

    def __init__(self, context: UnitContext, pipe: Pipeline | ClusterPipeline) -> None:
        self._context = context
        self._client = context.client
        self._keys = context.keyspace
        self._codec = context.codec
        self._pipe = pipe
        self._watched: set[str] = set()
        self._new_runs: dict[str, RunRecord] = {}
        self._changes = StateChanges()
        self._failure: StorageUnavailableError | None = None

    # -- runs ---------------------------------------------------------------

    async def add_runs(self, runs: Sequence[RunRecord]) -> list[RunRecord]:
        candidates: dict[str, RunRecord] = {}
        for run in runs:
            key = self._keys.run(run.agent_id, run.id)
            if key not in self._new_runs:
                candidates.setdefault(key, run)
        if not candidates:
            return []
        agents = dict.fromkeys(run.agent_id for run in candidates.values())
        indexes = [self._keys.runs_index(agent_id) for agent_id in agents]
        await self._watch([*candidates, *indexes], f"adding {len(candidates)} run(s)")
        with self._guard(f"checking which of {len(candidates)} run(s) are stored"):
            async with self._client.pipeline(transaction=False) as reads:
                for key in candidates:
                    reads.exists(key)
                for index in indexes:
                    reads.type(index)
                replies = await reads.execute()
        stored_flags, index_types = replies[: len(candidates)], replies[len(candidates) :]
        _check_index_types(indexes, index_types)
        fresh: list[RunRecord] = []
        for (key, run), stored in zip(candidates.items(), stored_flags, strict=True):
            if not stored:
                self._new_runs[key] = run
                fresh.append(run)
        return fresh

    # -- reads under WATCH ----------------------------------------------------

    async def load_plan(self, agent_id: str) -> ExecutionPlan | None:
        return await self._load(self._keys.plan(agent_id), codec.PLAN)

    async def load_trie(self, agent_id: str) -> TrieEnvelope | None:
        return await self._load(self._keys.trie(agent_id), codec.TRIE)

    async def load_accumulators(self, agent_id: str) -> AccumulatorState | None:
        return await self._load(self._keys.accumulators(agent_id), codec.ACCUMULATORS)

    async def load_stability(self, key: str) -> StabilityAnalysisResult | None:
        return await self._load(self._keys.stability(key), codec.STABILITY)

    async def load_observations(self, key: str) -> list[PromptIR] | None:
        redis_key = self._keys.observations(key)
        raw = await self._watched_get(redis_key, "the ACG observation window")
        return self._codec.decode_window(redis_key, raw)

    async def _load(self, key: str, kind: ValueKind[S]) -> S | None:
        raw = await self._watched_get(key, f"the {kind.name}")
        return self._codec.decode(key, raw, kind)

    async def _watched_get(self, key: str, what: str) -> bytes | None:
        await self._watch([key], f"loading {what} at {short(key)}")
        with self._guard(f"loading {what} at {short(key)}"):
            raw = await self._client.get(key)
        return cast("bytes | None", raw)

    async def _watch(self, keys: Iterable[str], action: str) -> None:
        wanted = [key for key in keys if key not in self._watched]
        if wanted:
            with self._guard(action), self._watches_lost_with_connection():
                await self._pipe.watch(*wanted)
            self._watched.update(wanted)

    # -- writes ---------------------------------------------------------------

    def save(self, agent_id: str, changes: StateChanges) -> None:
        self._changes.update(changes)

    async def commit(self) -> None:
        """Write everything staged in one MULTI/EXEC; raise if a watched key changed."""
        if self._failure is not None:
            raise self._failure
        states = self._encoded_states()
        if not self._new_runs and not states:
            return
        trims = await self._plan_trims() if self._retains else {}
        runs = self._encoded_runs(trims)
        pipe = self._pipe
        pipe.multi()  # type: ignore[no-untyped-call]
        self._queue_writes(runs, trims, states)
        action = f"committing {len(self._new_runs)} run(s) and {len(states)} value(s)"
        with self._guard(action), self._watches_lost_with_connection():
            await pipe.execute()
        for key, (raw, value) in states.items():
            self._codec.remember(key, raw, value)

    def _encoded_states(self) -> dict[str, tuple[bytes, object]]:
        changes, keys, encode = self._changes, self._keys, self._codec
        states: dict[str, tuple[bytes, object]] = {}
        groups: list[tuple[dict[str, Any], Any, ValueKind[Any]]] = [
            (changes.plans, keys.plan, codec.PLAN),
            (changes.tries, keys.trie, codec.TRIE),
            (changes.accumulators, keys.accumulators, codec.ACCUMULATORS),
            (changes.stability, keys.stability, codec.STABILITY),
        ]
        for values, key_of, kind in groups:
            for name, value in values.items():
                states[key_of(name)] = (kind.encode(value), value)
        for acg_key, window in changes.observations.items():
            states[keys.observations(acg_key)] = (encode.encode_window(window), window)
        for key, (raw, _) in states.items():
            codec.check_size(key, raw)
        return states

    def _encoded_runs(self, trims: dict[str, _AgentTrim]) -> dict[str, list[_EncodedRun]]:
        """Each agent's new runs as JSON, without those that fall off at once under the cap."""
        encoded: dict[str, list[_EncodedRun]] = {}
        for agent_id, runs in self._runs_by_agent().items():
            skipped = trims[agent_id].skipped_new if agent_id in trims else 0
            encoded[agent_id] = [
                _EncodedRun(key, str(run.id), codec.encode_run(run)) for key, run in runs[skipped:]
            ]
            for run in encoded[agent_id]:
                codec.check_size(run.key, run.raw)
        return encoded

    def _queue_writes(
        self,
        runs: dict[str, list[_EncodedRun]],
        trims: dict[str, _AgentTrim],
        states: dict[str, tuple[bytes, object]],
    ) -> None:
        """Queue the writes: MSETs for the values without a TTL, then each index's changes."""
        pipe, ttl_ms = self._pipe, self._context.settings.run_ttl_ms
        values = {key: raw for key, (raw, _) in states.items()}
        if ttl_ms is None:
            values.update((run.key, run.raw) for kept in runs.values() for run in kept)
        for batch in _mset_batches(values):  # by name: redis-py's cluster pipeline has no mset()
            pipe.execute_command("MSET", *batch)
        for agent_id, kept in runs.items():
            if ttl_ms is not None:
                for run in kept:
                    pipe.set(run.key, run.raw, px=ttl_ms)
            index = self._keys.runs_index(agent_id)
            trim = trims.get(agent_id, _AgentTrim())
            if trim.drop_head:
                pipe.ltrim(index, trim.drop_head, -1)
            if kept:
                pipe.rpush(index, *(run.run_id for run in kept))
            if ttl_ms is not None:
                pipe.pexpire(index, ttl_ms)
            if trim.deleted_runs:
                pipe.delete(*trim.deleted_runs)

    def _runs_by_agent(self) -> dict[str, list[tuple[str, RunRecord]]]:
        grouped: dict[str, list[tuple[str, RunRecord]]] = {}
        for key, run in self._new_runs.items():
            grouped.setdefault(run.agent_id, []).append((key, run))
        return grouped

    # -- retention ----------------------------------------------------------

    @property
    def _retains(self) -> bool:
        settings = self._context.settings
        has_policy = settings.max_runs_per_agent is not None or settings.run_ttl_s is not None
        return has_policy and bool(self._new_runs)

    async def _plan_trims(self) -> dict[str, _AgentTrim]:
        """Which index entries and run keys fall off, read while the indexes are watched.

        Expired runs are a prefix of the index (all runs get the same TTL and
        are pushed in order), so only its head is looked at: as many entries
        as the unit adds plus ``EXPIRED_SWEEP``, enough to shrink a backlog.
        """
        added = {agent: len(runs) for agent, runs in self._runs_by_agent().items()}
        with self._guard("reading the runs indexes to apply retention"):
            async with self._client.pipeline(transaction=False) as reads:
                for agent, count in added.items():
                    reads.llen(self._keys.runs_index(agent))
                    reads.lrange(self._keys.runs_index(agent), 0, count + EXPIRED_SWEEP - 1)
                replies = await reads.execute()
            lengths = dict(zip(added, replies[0::2], strict=True))
            heads = {
                a: [_text(i) for i in ids] for a, ids in zip(added, replies[1::2], strict=True)
            }
            expired = await self._expired_prefixes(heads)
            trims = {
                agent: self._trim(lengths[agent], expired[agent], count)
                for agent, count in added.items()
            }
            await self._name_deleted_runs(trims, heads)
        return trims

    async def _expired_prefixes(self, heads: dict[str, list[str]]) -> dict[str, int]:
        if self._context.settings.run_ttl_s is None:
            return dict.fromkeys(heads, 0)
        async with self._client.pipeline(transaction=False) as reads:
            for agent, ids in heads.items():
                for run_id in ids:
                    reads.exists(self._keys.run(agent, run_id))
            found = iter(await reads.execute())
        expired: dict[str, int] = {}
        for agent, ids in heads.items():
            alive = [bool(next(found)) for _ in ids]
            expired[agent] = alive.index(True) if True in alive else len(alive)
        return expired

    def _trim(self, length: int, expired: int, added: int) -> _AgentTrim:
        cap = self._context.settings.max_runs_per_agent
        if cap is None:
            return _AgentTrim(expired=expired)
        skipped_new = max(0, added - cap)
        live_old = length - expired
        over = live_old + added - skipped_new - cap
        over_cap = min(max(0, over), live_old, MAX_TRIM_PER_UNIT)
        return _AgentTrim(expired=expired, over_cap=over_cap, skipped_new=skipped_new)

    async def _name_deleted_runs(
        self, trims: dict[str, _AgentTrim], heads: dict[str, list[str]]
    ) -> None:
        """The run keys of the entries over the cap (read beyond the head when far over)."""
        beyond = {a: t for a, t in trims.items() if t.drop_head > len(heads[a])}
        if beyond:
            async with self._client.pipeline(transaction=False) as reads:
                for agent, trim in beyond.items():
                    reads.lrange(self._keys.runs_index(agent), 0, trim.drop_head - 1)
                for agent, ids in zip(beyond, await reads.execute(), strict=True):
                    heads[agent] = [_text(i) for i in ids]
        for agent, trim in trims.items():
            fallen = heads[agent][trim.expired : trim.drop_head]
            trim.deleted_runs = [self._keys.run(agent, run_id) for run_id in fallen]

    # -- error bookkeeping ----------------------------------------------------

    @contextmanager
    def _watches_lost_with_connection(self) -> Iterator[None]:
        """Report a lost connection as a lost race once keys are watched on it.

        The WATCHes went with the connection, so what they guarded may have
        changed unseen: the unit must run again. redis-py says so itself for a
        single server (``WatchError``); its cluster pipeline only raises the
        connection error.
        """
        try:
            yield
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
            if not self._watched:
                raise
            raise redis_errors.WatchError(
                f"lost the connection holding this unit's WATCHes: {error}"
            ) from error

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Translate Redis errors; after an outage or lost WATCH the unit cannot commit.

        A learner may swallow the error, but its WATCHes may be gone with the
        connection, so committing the rest could overwrite another writer.
        A rejected value (wrong type, bad JSON) leaves the unit usable.
        """
        if self._failure is not None:
            raise self._failure
        try:
            with translated_errors(action, self._context.server):
                yield
        except StorageUnavailableError as error:
            self._failure = error
            raise


def _mset_batches(values: dict[str, bytes]) -> Iterator[list[str | bytes]]:
    """MSET arguments (key, value, key, value...), cut at ``MSET_MAX_BYTES`` of values."""
    batch: list[str | bytes] = []
    size = 0
    for key, raw in values.items():
        if batch and size + len(raw) > MSET_MAX_BYTES:
            yield batch
            batch, size = [], 0
        batch += (key, raw)
        size += len(raw)
    if batch:
        yield batch


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _check_index_types(indexes: list[str], types: list[Any]) -> None:
    for index, kind in zip(indexes, types, strict=True):
        name = _text(kind)
        if name not in ("list", "none"):
            raise StorageError(
                f"redis key {short(index)} holds a {name}, not the list of run ids "
                "NeMo Relay keeps there; remove or rename it"
            )
