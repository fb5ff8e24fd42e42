"""One unit of work: one database transaction holding the locks of the agents it touches.

Concurrency control has two layers:

1. Locks (see ``dialect.py``): before a unit reads or writes an agent's
   state it holds that agent's lock (``add_runs`` locks every agent of the
   batch at once, in sorted order). Reads of an ACG key lock every agent the
   key could belong to (each prefix ending before a ``::``), unless the
   owning agent is already locked. So a read-learn-write cycle never
   interleaves with another writer of the same agent, in any process.
2. Versions: each learner-state, window and stability write bumps
   ``version`` and returns it; if the unit read that row and the new version
   is not the one it read plus one, someone wrote outside the locks, and the
   unit fails with ``ConcurrentUpdateError`` (the backend runs it again).

Writes are staged by ``save`` and sent by ``flush`` in a handful of bulk
statements: one upsert for all plans/tries/accumulators, one for all
stability results, one delete of evicted observations, one insert of new
ones, one upsert of the windows' ``seq`` ranges.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from adaptive.acg import PromptIR, StabilityAnalysisResult, StabilityClass
from adaptive.errors import StorageError
from adaptive.plan import ExecutionPlan
from adaptive.records import RunRecord
from adaptive.storage.keys import PROFILE_SEPARATOR, acg_key_belongs_to
from adaptive.storage.protocol import StateChanges
from adaptive.storage.sql import queries
from adaptive.storage.sql.caches import DecodedCaches, StoredState
from adaptive.storage.sql.dialect import SqlDialect
from adaptive.storage.sql.errors import ConcurrentUpdateError, translated_errors
from adaptive.storage.sql.models import (
    acg_observations,
    acg_stability,
    acg_windows,
    agents,
    calls,
    learner_state,
    runs,
    text_digest,
    text_key,
)
from adaptive.storage.sql.rows import call_rows, run_row
from adaptive.timestamps import to_datetime
from adaptive.trie import AccumulatorState, TrieEnvelope

JsonObject = dict[str, Any]
S = TypeVar("S")


@dataclass(frozen=True)
class _Statements:
    """The unit's INSERT … ON CONFLICT statements, built once per dialect.

    Building an upsert costs about half a millisecond, several times per unit.
    """

    register_agents: Insert
    insert_runs: Insert
    upsert_learner_state: Insert
    upsert_stability: Insert
    upsert_windows: Insert


@functools.cache
def _statements(dialect: SqlDialect) -> _Statements:
    state, stability, windows = learner_state.c, acg_stability.c, acg_windows.c
    return _Statements(
        register_agents=dialect.insert_ignoring_duplicates(agents, ["agent_digest"]),
        insert_runs=dialect.insert_ignoring_duplicates(runs, ["agent_digest", "id"]).returning(
            runs.c.agent_digest, runs.c.id
        ),
        upsert_learner_state=dialect.upsert(
            learner_state, ["agent_digest", "kind"], ["payload", "updated_at"]
        ).returning(state.agent_id, state.kind, state.version, state.updated_at),
        upsert_stability=dialect.upsert(
            acg_stability,
            ["key_digest"],
            [
                "stable_prefix_length",
                "total_observations",
                "stable_blocks",
                "semi_stable_blocks",
                "variable_blocks",
                "payload",
                "updated_at",
            ],
        ).returning(stability.acg_key, stability.version),
        upsert_windows=dialect.upsert(
            acg_windows, ["key_digest"], ["first_seq", "next_seq", "updated_at"]
        ).returning(windows.acg_key, windows.version),
    )


def block_counts(result: StabilityAnalysisResult) -> dict[str, int]:
    """The ``acg_stability`` columns counting span scores per class, for analytics."""
    counts = Counter(score.classification for score in result.scores)
    return {
        "stable_blocks": counts[StabilityClass.STABLE],
        "semi_stable_blocks": counts[StabilityClass.SEMI_STABLE],
        "variable_blocks": counts[StabilityClass.VARIABLE],
    }


def lock_key(agent_id: str) -> int:
    """The signed 64-bit advisory-lock key of an agent (first 8 bytes of its digest)."""
    return text_key(agent_id)


def possible_owners(acg_key: str) -> list[str]:
    """Every agent id an ACG key can belong to: the key itself and each prefix before ``::``.

    Agent ids may contain ``::`` themselves, so the owner cannot be parsed out
    of a profile key; locking every candidate is cheap and always includes it.
    """
    owners = [acg_key]
    start = acg_key.find(PROFILE_SEPARATOR)
    while start > 0:
        owners.append(acg_key[:start])
        start = acg_key.find(PROFILE_SEPARATOR, start + 1)
    return owners


def window_overlap(stored: Sequence[UUID], new: Sequence[UUID]) -> int:
    """How many of the stored observations ``new`` keeps at its front (its oldest end).

    A window only ever drops its oldest entries and appends new ones, so the
    kept ones are a suffix of ``stored`` and a prefix of ``new``; if the new
    window is unrelated (the best profile changed), nothing is kept.
    """
    if not new:
        return 0
    for evicted in range(len(stored)):
        kept = len(stored) - evicted
        if stored[evicted] == new[0] and kept <= len(new) and stored[evicted:] == new[:kept]:
            return kept
    return 0


RunIdentity = tuple[bytes, UUID]
"""What makes a run one run: its agent (by digest) and its id, as NeMo Relay's keys do."""


def _identity(run: RunRecord) -> RunIdentity:
    return text_digest(run.agent_id), run.id


def _short(text: str) -> str:
    """A user-supplied id cut to a loggable length."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


class SqlUnitOfWork:
    """Stages runs and learner state inside one open transaction (see module docstring)."""

    def __init__(
        self, connection: AsyncConnection, dialect: SqlDialect, caches: DecodedCaches
    ) -> None:
        self._connection = connection
        self._dialect = dialect
        self._statements = _statements(dialect)
        self._caches = caches
        self._written_states: list[tuple[tuple[str, str], StoredState]] = []
        self._written_observations: list[PromptIR] = []
        self._locked: set[str] = set()
        self._added: set[RunIdentity] = set()
        self._changes = StateChanges()
        self._owners: dict[str, str] = {}
        self._read_versions: dict[tuple[str, str], int] = {}
        self._read_stability_versions: dict[str, int] = {}
        self._read_windows: dict[str, queries.StoredWindow] = {}
        self._failure: StorageError | None = None

    # -- runs ---------------------------------------------------------------

    async def add_runs(self, runs_to_add: Sequence[RunRecord]) -> list[RunRecord]:
        candidates = self._not_added_yet(runs_to_add)
        if not candidates:
            return []
        with self._guard(f"storing {len(candidates)} run(s) (first {candidates[0].id})"):
            await self._lock(run.agent_id for run in candidates)
            await self._register_agents(candidates)
            inserted = await self._insert_runs(candidates)
            fresh = [run for run in candidates if _identity(run) in inserted]
            rows = [row for run in fresh for row in call_rows(run, text_digest(run.agent_id))]
            if rows:
                await self._connection.execute(insert(calls), rows)
        self._added.update(_identity(run) for run in fresh)
        return fresh

    def _not_added_yet(self, runs_to_add: Sequence[RunRecord]) -> list[RunRecord]:
        """The runs this unit has not added before, each once, in the given order."""
        seen = set(self._added)
        candidates: list[RunRecord] = []
        for run in runs_to_add:
            identity = _identity(run)
            if identity not in seen:
                seen.add(identity)
                candidates.append(run)
        return candidates

    async def _register_agents(self, new_runs: Iterable[RunRecord]) -> None:
        now = datetime.now(UTC)
        rows = {
            digest: {"agent_digest": digest, "agent_id": agent_id, "created_at": now}
            for agent_id in {run.agent_id for run in new_runs}
            for digest in [text_digest(agent_id)]
        }
        await self._connection.execute(self._statements.register_agents, list(rows.values()))

    async def _insert_runs(self, new_runs: Sequence[RunRecord]) -> set[RunIdentity]:
        """Insert the runs not stored yet; return the (agent digest, id) of those inserted."""
        rows = [run_row(run, text_digest(run.agent_id)) for run in new_runs]
        if self._dialect.numbers_runs_itself:
            last = await self._connection.scalar(select(func.coalesce(func.max(runs.c.seq), 0)))
            for offset, row in enumerate(rows, start=1):
                row["seq"] = int(last or 0) + offset
        inserted = await self._connection.execute(self._statements.insert_runs, rows)
        return {(bytes(digest), run_id) for digest, run_id in inserted}

    # -- reads under lock ---------------------------------------------------

    async def load_plan(self, agent_id: str) -> ExecutionPlan | None:
        return await self._load_learner_state(agent_id, queries.PLAN)

    async def load_trie(self, agent_id: str) -> TrieEnvelope | None:
        return await self._load_learner_state(agent_id, queries.TRIE)

    async def load_accumulators(self, agent_id: str) -> AccumulatorState | None:
        return await self._load_learner_state(agent_id, queries.ACCUMULATORS)

    async def load_observations(self, key: str) -> list[PromptIR] | None:
        with self._guard(f"loading the ACG observations of {_short(key)}"):
            await self._lock_owner_of(key)
            stored, observations = await queries.fetch_window(self._connection, key, self._caches)
        self._read_windows[key] = stored
        return observations

    async def load_stability(self, key: str) -> StabilityAnalysisResult | None:
        with self._guard(f"loading the ACG stability of {_short(key)}"):
            await self._lock_owner_of(key)
            stored = await queries.fetch_stability(self._connection, key)
        self._read_stability_versions[key] = 0 if stored is None else stored.version
        return queries.decode_stability(stored)

    async def _load_learner_state(self, agent_id: str, kind: queries.StateKind[S]) -> S | None:
        with self._guard(f"loading the {kind.name} of agent {_short(agent_id)}"):
            await self._lock([agent_id])
            found = await queries.fetch_learner_state(
                self._connection, agent_id, kind, self._caches
            )
        self._read_versions[(agent_id, kind.name)] = 0 if found is None else found[0]
        return None if found is None else found[1]

    # -- writes -------------------------------------------------------------

    def save(self, agent_id: str, changes: StateChanges) -> None:
        self._changes.update(changes)
        for key in (*changes.observations, *changes.stability):
            self._owners[key] = agent_id

    async def flush(self) -> None:
        """Write everything ``save`` staged; called once, just before commit."""
        if self._failure is not None:
            raise self._failure
        changes = self._changes
        if changes.is_empty():
            return
        with self._guard("saving learner state"):
            await self._lock([*changes.plans, *changes.tries, *changes.accumulators])
            await self._lock(self._owners.values())
            await self._write_learner_state()
            await self._write_stability()
            await self._write_windows()

    def cache_committed(self) -> None:
        """After commit: keep what this unit wrote, so the next unit need not read it back."""
        for key, stored in self._written_states:
            self._caches.learner_state.put(key, stored)
        for observation in self._written_observations:
            self._caches.observations.put(observation.ir_id, observation)

    async def _write_learner_state(self) -> None:
        now = datetime.now(UTC)
        states: dict[tuple[str, str], Any] = {
            (agent_id, kind.name): state
            for kind, by_agent in (
                (queries.PLAN, self._changes.plans),
                (queries.TRIE, self._changes.tries),
                (queries.ACCUMULATORS, self._changes.accumulators),
            )
            for agent_id, state in by_agent.items()
        }
        if not states:
            return
        rows = [
            {
                "agent_digest": text_digest(agent_id),
                "kind": kind,
                "agent_id": agent_id,
                "version": 1,
                "payload": state.to_wire(),
                "updated_at": now,
            }
            for (agent_id, kind), state in states.items()
        ]
        statement = self._statements.upsert_learner_state
        for row in await self._connection.execute(statement, rows):
            key = (row.agent_id, row.kind)
            self._check_version(
                self._read_versions.get(key),
                row.version,
                f"the {row.kind} of agent {_short(row.agent_id)}",
            )
            stored = StoredState(row.version, row.updated_at, states[key])
            self._written_states.append((key, stored))

    async def _write_stability(self) -> None:
        now = datetime.now(UTC)
        rows = [
            {
                **self._owned_by(key, text_digest(key)),
                "version": 1,
                "stable_prefix_length": result.stable_prefix_length,
                "total_observations": result.total_observations,
                **block_counts(result),
                "payload": result.to_wire(),
                "updated_at": now,
            }
            for key, result in self._changes.stability.items()
        ]
        if not rows:
            return
        statement = self._statements.upsert_stability
        for row in await self._connection.execute(statement, rows):
            self._check_version(
                self._read_stability_versions.get(row.acg_key),
                row.version,
                f"the ACG stability of {_short(row.acg_key)}",
            )

    async def _write_windows(self) -> None:
        """Trim and append each saved window, keeping the rows both versions share."""
        windows = self._changes.observations
        if not windows:
            return
        stored = dict(self._read_windows)
        unread = [key for key in windows if key not in stored]
        if unread:
            stored.update(await queries.fetch_windows(self._connection, unread))
        now = datetime.now(UTC)
        evictions: list[Any] = []
        new_rows: list[JsonObject] = []
        window_rows: list[JsonObject] = []
        wire_of: dict[int, JsonObject] = {}
        for key, window in windows.items():
            before = stored[key]
            digest = text_digest(key)
            kept = window_overlap([row.ir_id for row in before.rows], [ir.ir_id for ir in window])
            next_seq = before.state.next_seq if before.state is not None else 1
            first_kept = before.rows[-kept].seq if kept else next_seq
            if kept < len(before.rows):
                evictions.append(self._evicted(digest, before.rows[0].seq, first_kept))
            appended = window[kept:]
            new_rows.extend(
                self._observation_row(key, digest, next_seq + offset, ir, wire_of)
                for offset, ir in enumerate(appended)
            )
            window_rows.append(
                {
                    **self._owned_by(key, digest),
                    "first_seq": first_kept,
                    "next_seq": next_seq + len(appended),
                    "version": 1,
                    "updated_at": now,
                }
            )
        if evictions:
            await self._connection.execute(delete(acg_observations).where(or_(*evictions)))
        if new_rows:
            await self._connection.execute(insert(acg_observations), new_rows)
        await self._upsert_windows(window_rows)

    async def _upsert_windows(self, rows: list[JsonObject]) -> None:
        statement = self._statements.upsert_windows
        for row in await self._connection.execute(statement, rows):
            read = self._read_windows.get(row.acg_key)
            self._check_version(
                None if read is None else read.version,
                row.version,
                f"the ACG window of {_short(row.acg_key)}",
            )

    @staticmethod
    def _evicted(digest: bytes, first_seq: int, first_kept: int) -> Any:
        """The condition selecting a window's rows that are older than its oldest kept one."""
        table = acg_observations.c
        return and_(table.key_digest == digest, table.seq >= first_seq, table.seq < first_kept)

    def _owned_by(self, key: str, digest: bytes) -> JsonObject:
        owner = self._owners[key]
        return {
            "key_digest": digest,
            "acg_key": key,
            "agent_digest": text_digest(owner),
            "agent_id": owner,
        }

    def _observation_row(
        self, key: str, digest: bytes, seq: int, ir: PromptIR, wire_of: dict[int, JsonObject]
    ) -> JsonObject:
        wire = wire_of.get(id(ir))
        if wire is None:
            wire = wire_of[id(ir)] = ir.to_wire()
            self._written_observations.append(ir)
        return {
            **self._owned_by(key, digest),
            "seq": seq,
            "ir_id": ir.ir_id,
            "payload": wire,
            "observed_at": to_datetime(ir.created_at),
        }

    @staticmethod
    def _check_version(read: int | None, written: int, what: str) -> None:
        """Fail the unit if someone else wrote the row since this unit read it.

        ``read`` is the version this unit read (0: the row did not exist), or
        ``None`` when it wrote without reading: nothing to compare then.
        """
        if read is not None and written != read + 1:
            raise ConcurrentUpdateError(
                f"{what} changed while this unit held it "
                f"(read at version {read}, now at {written - 1})"
            )

    # -- locking and error bookkeeping ----------------------------------------

    async def _lock(self, agent_ids: Iterable[str]) -> None:
        wanted = set(agent_ids) - self._locked
        if wanted:
            await self._dialect.lock_agents(self._connection, map(lock_key, wanted))
            self._locked |= wanted

    async def _lock_owner_of(self, key: str) -> None:
        if not any(acg_key_belongs_to(key, agent_id) for agent_id in self._locked):
            await self._lock(possible_owners(key))

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Translate database errors, and remember the first so the unit cannot commit.

        After a failed statement the transaction is unusable (PostgreSQL) or
        incomplete; a learner that swallowed the error must not get the rest
        of the unit committed.
        """
        if self._failure is not None:
            raise self._failure
        try:
            with translated_errors(self._dialect, action):
                yield
        except StorageError as error:
            self._failure = error
            raise
