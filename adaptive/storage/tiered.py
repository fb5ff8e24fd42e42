"""Tiered storage: a hot backend (Redis) in front of a durable one (PostgreSQL).

The durable backend is the truth for runs and learner state: every unit of
work runs and commits there first, under its locks. The state and runs it
committed are then copied to the hot backend, which NeMo Relay processes and
our hot path read. A copy that fails (Redis down) never fails the unit; the
hot backend is marked stale and re-seeded from the durable one, as it is on
every start, so a flushed or new Redis comes back with the learned state.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from adaptive.errors import StorageError
from adaptive.intercepts.cohort_gate import CohortGate
from adaptive.plan import ExecutionPlan
from adaptive.records import RunRecord
from adaptive.storage.protocol import StateChanges, StorageBackend, UnitOfWork

if TYPE_CHECKING:
    from adaptive.acg import PromptIR, StabilityAnalysisResult
    from adaptive.trie import AccumulatorState, TrieEnvelope

logger = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S")

RESEED_RUNS = 100
"""Newest runs per agent copied to a re-seeded hot backend (its "recent runs")."""


class _RecordingUnit:
    """A durable unit of work that remembers what it stored, to copy it afterwards."""

    def __init__(self, unit: UnitOfWork) -> None:
        self._unit = unit
        self.new_runs: list[RunRecord] = []
        self.saved: list[tuple[str, StateChanges]] = []

    async def load_plan(self, agent_id: str) -> ExecutionPlan | None:
        return await self._unit.load_plan(agent_id)

    async def load_trie(self, agent_id: str) -> TrieEnvelope | None:
        return await self._unit.load_trie(agent_id)

    async def load_accumulators(self, agent_id: str) -> AccumulatorState | None:
        return await self._unit.load_accumulators(agent_id)

    async def load_observations(self, key: str) -> list[PromptIR] | None:
        return await self._unit.load_observations(key)

    async def load_stability(self, key: str) -> StabilityAnalysisResult | None:
        return await self._unit.load_stability(key)

    async def add_runs(self, runs: Sequence[RunRecord]) -> list[RunRecord]:
        fresh = await self._unit.add_runs(runs)
        self.new_runs.extend(fresh)
        return fresh

    def save(self, agent_id: str, changes: StateChanges) -> None:
        self._unit.save(agent_id, changes)
        self.saved.append((agent_id, changes))


class TieredBackend:
    """``durable`` holds the truth, ``hot`` a copy for fast shared reads."""

    def __init__(self, durable: StorageBackend, hot: StorageBackend) -> None:
        self.durable = durable
        self.hot = hot
        if hasattr(hot, "check_persistence"):
            hot.check_persistence = False  # a copy: PostgreSQL holds the truth
        self.hot_stale = True
        self.copy_failures = 0

    def cohort_gate(self) -> CohortGate | None:
        """The hot backend's shared gates (cohort gates live in Redis, never in SQL)."""
        shared = getattr(self.hot, "cohort_gate", None)
        gate: CohortGate | None = shared() if callable(shared) else None
        return gate

    async def open(self) -> None:
        await self.durable.open()
        try:
            await self.hot.open()
            await self.reseed_hot()
        except StorageError as error:
            logger.warning("hot tier unavailable at start, serving from the durable one: %s", error)

    async def close(self) -> None:
        try:
            await self.hot.close()
        finally:
            await self.durable.close()

    async def run_unit_of_work(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async def recorded(unit: UnitOfWork) -> tuple[T, _RecordingUnit]:
            tap = _RecordingUnit(unit)
            return await work(tap), tap

        result, tap = await self.durable.run_unit_of_work(recorded)
        if self.hot_stale:
            await self._try_reseed()
        else:
            await self._copy_to_hot(tap.new_runs, tap.saved)
        return result

    async def _write_hot(
        self, runs: list[RunRecord], saved: list[tuple[str, StateChanges]]
    ) -> None:
        async def copy(unit: UnitOfWork) -> None:
            await unit.add_runs(runs)
            for agent_id, changes in saved:
                unit.save(agent_id, changes)

        await self.hot.run_unit_of_work(copy)

    async def _copy_to_hot(
        self, runs: list[RunRecord], saved: list[tuple[str, StateChanges]]
    ) -> None:
        if not runs and not saved:
            return
        try:
            await self._write_hot(runs, saved)
        except StorageError as error:
            self.hot_stale = True
            self.copy_failures += 1
            logger.warning("hot tier missed a write (re-seeding it later): %s", error)

    async def _try_reseed(self) -> None:
        try:
            await self.reseed_hot()
        except StorageError as error:
            logger.warning("hot tier still unavailable: %s", error)

    async def reseed_hot(self) -> None:
        """Copy every agent's state, and its newest runs, from the durable tier."""
        for agent_id in await self.durable.list_agents():
            runs, changes = await self._durable_copy(agent_id)
            await self._write_hot(runs, [(agent_id, changes)])
        self.hot_stale = False

    async def _durable_copy(self, agent_id: str) -> tuple[list[RunRecord], StateChanges]:
        """An agent's learned state and newest runs, as stored in the durable tier."""
        changes = StateChanges()
        if (plan := await self.durable.load_plan(agent_id)) is not None:
            changes.plans[agent_id] = plan
        if (trie := await self.durable.load_trie(agent_id)) is not None:
            changes.tries[agent_id] = trie
        if (accumulators := await self.durable.load_accumulators(agent_id)) is not None:
            changes.accumulators[agent_id] = accumulators
        for key in await self.durable.list_acg_keys(agent_id):
            if (window := await self.durable.load_observations(key)) is not None:
                changes.observations[key] = window
            if (result := await self.durable.load_stability(key)) is not None:
                changes.stability[key] = result
        recent = (await self.durable.list_run_ids(agent_id))[-RESEED_RUNS:]
        return await self.durable.load_runs(agent_id, recent), changes

    # Reads outside units: learned state from the hot tier (the durable one if the
    # hot tier misses or is down); run history from the durable tier, which has it all.

    async def _hot_first(self, read: Callable[[StorageBackend], Awaitable[S | None]]) -> S | None:
        if not self.hot_stale:
            try:
                found = await read(self.hot)
            except StorageError as error:
                logger.warning("hot tier read failed, reading the durable tier: %s", error)
            else:
                if found is not None:
                    return found
        return await read(self.durable)

    async def load_plan(self, agent_id: str) -> ExecutionPlan | None:
        return await self._hot_first(lambda backend: backend.load_plan(agent_id))

    async def load_trie(self, agent_id: str) -> TrieEnvelope | None:
        return await self._hot_first(lambda backend: backend.load_trie(agent_id))

    async def load_accumulators(self, agent_id: str) -> AccumulatorState | None:
        return await self._hot_first(lambda backend: backend.load_accumulators(agent_id))

    async def load_observations(self, key: str) -> list[PromptIR] | None:
        return await self._hot_first(lambda backend: backend.load_observations(key))

    async def load_stability(self, key: str) -> StabilityAnalysisResult | None:
        return await self._hot_first(lambda backend: backend.load_stability(key))

    async def list_agents(self) -> list[str]:
        return await self.durable.list_agents()

    async def list_run_ids(self, agent_id: str) -> list[UUID]:
        return await self.durable.list_run_ids(agent_id)

    async def load_runs(self, agent_id: str, run_ids: Sequence[UUID]) -> list[RunRecord]:
        return await self.durable.load_runs(agent_id, run_ids)

    async def list_acg_keys(self, agent_id: str) -> list[str]:
        return await self.durable.list_acg_keys(agent_id)
