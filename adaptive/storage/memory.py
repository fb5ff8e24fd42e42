"""In-process backend: dicts behind one lock. For tests and single processes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from adaptive.plan import ExecutionPlan
from adaptive.records import RunRecord
from adaptive.storage.keys import acg_key_belongs_to
from adaptive.storage.protocol import StateChanges, UnitOfWork

if TYPE_CHECKING:
    from adaptive.acg import PromptIR, StabilityAnalysisResult
    from adaptive.trie import AccumulatorState, TrieEnvelope

T = TypeVar("T")


class MemoryBackend:
    """Keeps everything in dicts.

    Runs are kept as their JSON bytes: a long history of object graphs would
    make every full garbage collection walk all of it, and bytes also cost a
    fraction of the memory. Learner state objects are shared, never copied;
    loaded objects must be treated as read-only (the protocol's rule for every
    backend): learners build new state objects instead of editing loaded ones.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.runs: dict[str, dict[UUID, bytes]] = {}
        self.plans: dict[str, ExecutionPlan] = {}
        self.tries: dict[str, TrieEnvelope] = {}
        self.accumulators: dict[str, AccumulatorState] = {}
        self.observations: dict[str, list[PromptIR]] = {}
        self.stability: dict[str, StabilityAnalysisResult] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def load_plan(self, agent_id: str) -> ExecutionPlan | None:
        return self.plans.get(agent_id)

    async def load_trie(self, agent_id: str) -> TrieEnvelope | None:
        return self.tries.get(agent_id)

    async def load_accumulators(self, agent_id: str) -> AccumulatorState | None:
        return self.accumulators.get(agent_id)

    async def load_observations(self, key: str) -> list[PromptIR] | None:
        return self.observations.get(key)

    async def load_stability(self, key: str) -> StabilityAnalysisResult | None:
        return self.stability.get(key)

    async def run_unit_of_work(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async with self._lock:
            unit = _MemoryUnitOfWork(self)
            result = await work(unit)
            unit.commit()
            return result

    async def list_agents(self) -> list[str]:
        agents = set(self.runs) | set(self.plans) | set(self.tries) | set(self.accumulators)
        return sorted(agents)

    async def list_run_ids(self, agent_id: str) -> list[UUID]:
        return list(self.runs.get(agent_id, {}))

    async def load_runs(self, agent_id: str, run_ids: Sequence[UUID]) -> list[RunRecord]:
        stored = self.runs.get(agent_id, {})
        return [
            RunRecord.model_validate_json(stored[run_id]) for run_id in run_ids if run_id in stored
        ]

    async def list_acg_keys(self, agent_id: str) -> list[str]:
        keys = set(self.observations) | set(self.stability)
        return sorted(key for key in keys if acg_key_belongs_to(key, agent_id))


class _MemoryUnitOfWork:
    """Stages runs and changes; nothing is visible until ``commit``."""

    def __init__(self, backend: MemoryBackend) -> None:
        self._backend = backend
        self._new_runs: dict[tuple[str, UUID], RunRecord] = {}
        self._changes = StateChanges()

    async def load_plan(self, agent_id: str) -> ExecutionPlan | None:
        return self._backend.plans.get(agent_id)

    async def load_trie(self, agent_id: str) -> TrieEnvelope | None:
        return self._backend.tries.get(agent_id)

    async def load_accumulators(self, agent_id: str) -> AccumulatorState | None:
        return self._backend.accumulators.get(agent_id)

    async def load_observations(self, key: str) -> list[PromptIR] | None:
        return self._backend.observations.get(key)

    async def load_stability(self, key: str) -> StabilityAnalysisResult | None:
        return self._backend.stability.get(key)

    async def add_runs(self, runs: Sequence[RunRecord]) -> list[RunRecord]:
        fresh: list[RunRecord] = []
        for run in runs:
            identity = (run.agent_id, run.id)
            if identity in self._new_runs or run.id in self._backend.runs.get(run.agent_id, {}):
                continue
            self._new_runs[identity] = run
            fresh.append(run)
        return fresh

    def save(self, agent_id: str, changes: StateChanges) -> None:
        self._changes.update(changes)

    def commit(self) -> None:
        backend = self._backend
        for run in self._new_runs.values():
            backend.runs.setdefault(run.agent_id, {})[run.id] = run.model_dump_json().encode()
        backend.plans.update(self._changes.plans)
        backend.tries.update(self._changes.tries)
        backend.accumulators.update(self._changes.accumulators)
        backend.observations.update(self._changes.observations)
        backend.stability.update(self._changes.stability)
