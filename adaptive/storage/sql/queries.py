"""The reads both the backend and a unit of work run, and how rows become state objects.

Rows are matched on the indexed digest and on the text itself, so a query is
exact even in the (astronomically unlikely) case of a digest collision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Generic, NamedTuple, TypeVar, cast
from uuid import UUID

from sqlalchemy import and_, case, null, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from adaptive.acg import PromptIR, StabilityAnalysisResult
from adaptive.errors import StorageError
from adaptive.plan import ExecutionPlan
from adaptive.records import RunRecord
from adaptive.storage.keys import acg_key_belongs_to
from adaptive.storage.sql.caches import DecodedCaches, StoredState
from adaptive.storage.sql.dialect import Payload
from adaptive.storage.sql.models import (
    acg_observations,
    acg_stability,
    acg_windows,
    agents,
    calls,
    learner_state,
    runs,
    text_digest,
)
from adaptive.storage.sql.rows import group_calls_by_run, run_from_rows
from adaptive.trie import AccumulatorState, TrieEnvelope

RUNS_PER_QUERY: Final = 500
"""Ids per ``IN (…)`` list: well under SQLite's and asyncpg's bound-parameter limits."""

S = TypeVar("S")
_NEVER: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StateKind(Generic[S]):
    """One kind of learner-state document: its ``kind`` column value and its decoder."""

    name: str
    decode: Callable[[dict[str, Any]], S]


PLAN: Final = StateKind("plan", ExecutionPlan.model_validate)
TRIE: Final = StateKind("trie", TrieEnvelope.model_validate)
ACCUMULATORS: Final = StateKind("accumulators", AccumulatorState.from_wire)


class Versioned(NamedTuple):
    """A stored document and the write count it was read at."""

    version: int
    payload: dict[str, Any]


class WindowRow(NamedTuple):
    """Where one observation sits in its window."""

    seq: int
    ir_id: UUID


async def fetch_learner_state(
    connection: AsyncConnection, agent_id: str, kind: StateKind[S], caches: DecodedCaches
) -> tuple[int, S] | None:
    """An agent's document of one kind and its version; the payload only if not cached."""
    cached = caches.learner_state.get((agent_id, kind.name))
    table = learner_state.c
    unchanged = and_(
        table.version == (cached.version if cached else -1),
        table.updated_at == (cached.updated_at if cached else _NEVER),
    )
    payload = type_coerce(case((unchanged, null()), else_=table.payload), Payload)
    query = select(table.version, table.updated_at, payload.label("payload")).where(
        table.agent_digest == text_digest(agent_id),
        table.kind == kind.name,
        table.agent_id == agent_id,
    )
    row = (await connection.execute(query)).first()
    if row is None:
        return None
    if row.payload is None and cached is not None:
        return row.version, cast(S, cached.state)
    state = kind.decode(row.payload)
    caches.learner_state.put((agent_id, kind.name), StoredState(row.version, row.updated_at, state))
    return row.version, state


async def fetch_stability(connection: AsyncConnection, key: str) -> Versioned | None:
    table = acg_stability.c
    query = select(table.version, table.payload).where(
        table.key_digest == text_digest(key), table.acg_key == key
    )
    row = (await connection.execute(query)).first()
    return None if row is None else Versioned(row.version, row.payload)


class WindowState(NamedTuple):
    """An ``acg_windows`` row: the window's version and its live ``seq`` range."""

    version: int
    first_seq: int
    next_seq: int


class StoredWindow(NamedTuple):
    """A window as stored: its row (``None``: no window) and its observations' places."""

    state: WindowState | None
    rows: list[WindowRow]

    @property
    def version(self) -> int:
        """The window's write count (0: never written)."""
        return 0 if self.state is None else self.state.version


async def fetch_windows(
    connection: AsyncConnection, keys: Sequence[str]
) -> dict[str, StoredWindow]:
    """Several windows' states and observation ids (no payloads), oldest first.

    The join starts each key's index range at its ``first_seq``, past the
    rows trimming deleted.
    """
    by_digest = {text_digest(key): key for key in keys}
    windows, observations = acg_windows.c, acg_observations.c
    live_rows = and_(
        observations.key_digest == windows.key_digest,
        observations.seq >= windows.first_seq,
        observations.seq < windows.next_seq,
    )
    query = (
        select(
            windows.key_digest,
            windows.acg_key,
            windows.version,
            windows.first_seq,
            windows.next_seq,
            observations.seq,
            observations.ir_id,
        )
        .select_from(acg_windows.outerjoin(acg_observations, live_rows))
        .where(windows.key_digest.in_(by_digest))
        .order_by(windows.key_digest, observations.seq)
    )
    found: dict[str, StoredWindow] = {key: StoredWindow(None, []) for key in keys}
    for row in await connection.execute(query):
        key = by_digest[row.key_digest]
        if row.acg_key != key:
            continue
        if found[key].state is None:
            found[key] = StoredWindow(WindowState(row.version, row.first_seq, row.next_seq), [])
        if row.seq is not None:
            found[key].rows.append(WindowRow(row.seq, row.ir_id))
    return found


async def fetch_window(
    connection: AsyncConnection, key: str, caches: DecodedCaches
) -> tuple[StoredWindow, list[PromptIR] | None]:
    """A window as stored and its observations, oldest first; only unseen ones are fetched."""
    stored = (await fetch_windows(connection, [key]))[key]
    if stored.state is None:
        return stored, None
    known = {row.ir_id: caches.observations.get(row.ir_id) for row in stored.rows}
    missing = [ir_id for ir_id, observation in known.items() if observation is None]
    if missing:
        table = acg_observations.c
        query = select(table.payload).where(
            table.key_digest == text_digest(key),
            table.seq >= stored.state.first_seq,
            table.seq < stored.state.next_seq,
            table.ir_id.in_(missing),
        )
        for payload in (await connection.execute(query)).scalars():
            observation = PromptIR.model_validate(payload)
            caches.observations.put(observation.ir_id, observation)
            known[observation.ir_id] = observation
    return stored, [_present(known[row.ir_id], row.ir_id) for row in stored.rows]


def _present(observation: PromptIR | None, ir_id: UUID) -> PromptIR:
    if observation is None:  # cannot happen in one snapshot, which every read runs in
        raise StorageError(f"observation {ir_id} disappeared while its window was read")
    return observation


async def fetch_agents(connection: AsyncConnection) -> list[str]:
    query = select(agents.c.agent_id).union(select(learner_state.c.agent_id))
    return sorted(set((await connection.execute(query)).scalars()))


async def fetch_run_ids(connection: AsyncConnection, agent_id: str) -> list[UUID]:
    query = (
        select(runs.c.id)
        .where(runs.c.agent_digest == text_digest(agent_id), runs.c.agent_id == agent_id)
        .order_by(runs.c.seq)
    )
    return list((await connection.execute(query)).scalars())


async def fetch_runs(
    connection: AsyncConnection, agent_id: str, run_ids: Sequence[UUID]
) -> list[RunRecord]:
    """The agent's runs among ``run_ids``, in the order asked for; unknown ids are skipped."""
    found: dict[UUID, RunRecord] = {}
    wanted = list(dict.fromkeys(run_ids))
    for start in range(0, len(wanted), RUNS_PER_QUERY):
        found.update(
            await _fetch_run_page(connection, agent_id, wanted[start : start + RUNS_PER_QUERY])
        )
    return [found[run_id] for run_id in run_ids if run_id in found]


async def _fetch_run_page(
    connection: AsyncConnection, agent_id: str, run_ids: Sequence[UUID]
) -> dict[UUID, RunRecord]:
    run_rows = (
        await connection.execute(
            select(runs).where(
                runs.c.id.in_(run_ids),
                runs.c.agent_digest == text_digest(agent_id),
                runs.c.agent_id == agent_id,
            )
        )
    ).all()
    if not run_rows:
        return {}
    call_rows = (
        await connection.execute(
            select(calls)
            .where(
                calls.c.agent_digest == text_digest(agent_id),
                calls.c.run_id.in_([row.id for row in run_rows]),
            )
            .order_by(calls.c.run_id, calls.c.position)
        )
    ).all()
    calls_of = group_calls_by_run(call_rows)
    return {row.id: run_from_rows(row, calls_of.get(row.id, [])) for row in run_rows}


async def fetch_acg_keys(connection: AsyncConnection, agent_id: str) -> list[str]:
    """Keys the agent saved state under, filtered like every backend filters them."""
    digest = text_digest(agent_id)
    query = (
        select(acg_stability.c.acg_key)
        .where(acg_stability.c.agent_digest == digest)
        .union(select(acg_windows.c.acg_key).where(acg_windows.c.agent_digest == digest))
    )
    keys = (await connection.execute(query)).scalars()
    return sorted({key for key in keys if acg_key_belongs_to(key, agent_id)})


def decode_stability(stored: Versioned | None) -> StabilityAnalysisResult | None:
    return None if stored is None else StabilityAnalysisResult.model_validate(stored.payload)
