"""The storage protocol every backend implements.

Learner state is shared by every process that learns for an agent, so it is
never written blindly. A learner reads the state it needs through a
``UnitOfWork`` and returns the new state as ``StateChanges``; the backend
commits the batch's new runs and all learners' changes together, atomically,
and retries the whole unit when another process got there first (optimistic
backends) or holds locks while it runs (pessimistic ones). Work passed to
``run_unit_of_work`` must therefore be safe to run more than once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar
from uuid import UUID

from adaptive.plan import ExecutionPlan
from adaptive.records import RunRecord

if TYPE_CHECKING:
    from adaptive.acg import PromptIR, StabilityAnalysisResult
    from adaptive.trie import AccumulatorState, TrieEnvelope

T = TypeVar("T")


@dataclass
class StateChanges:
    """New learner state to write, keyed as NeMo Relay keys it in Redis.

    ``plans``, ``tries`` and ``accumulators`` are keyed by agent id;
    ``observations`` and ``stability`` by ACG key (a profile key, or the plain
    agent id for the best-profile aggregate).
    """

    plans: dict[str, ExecutionPlan] = field(default_factory=dict)
    tries: dict[str, TrieEnvelope] = field(default_factory=dict)
    accumulators: dict[str, AccumulatorState] = field(default_factory=dict)
    observations: dict[str, list[PromptIR]] = field(default_factory=dict)
    stability: dict[str, StabilityAnalysisResult] = field(default_factory=dict)

    def update(self, other: StateChanges) -> None:
        """Add another learner's changes (later writers win per key)."""
        self.plans.update(other.plans)
        self.tries.update(other.tries)
        self.accumulators.update(other.accumulators)
        self.observations.update(other.observations)
        self.stability.update(other.stability)

    def is_empty(self) -> bool:
        return not (
            self.plans or self.tries or self.accumulators or self.observations or self.stability
        )


class StateReader(Protocol):
    """Reads of learner state; inside a unit of work they are the reads it guards."""

    async def load_plan(self, agent_id: str) -> ExecutionPlan | None: ...

    async def load_trie(self, agent_id: str) -> TrieEnvelope | None: ...

    async def load_accumulators(self, agent_id: str) -> AccumulatorState | None: ...

    async def load_observations(self, key: str) -> list[PromptIR] | None: ...

    async def load_stability(self, key: str) -> StabilityAnalysisResult | None: ...


class UnitOfWork(StateReader, Protocol):
    """One atomic step: add a batch of runs and the state learned from them."""

    async def add_runs(self, runs: Sequence[RunRecord]) -> list[RunRecord]:
        """Stage runs not stored before; return those (in the given order).

        Runs whose id is already stored are left alone, so a re-ingested trace
        is neither stored nor learned twice.
        """
        ...

    def save(self, agent_id: str, changes: StateChanges) -> None:
        """Stage one agent's new learner state, written when the unit commits.

        Every key in ``changes`` belongs to ``agent_id`` (ACG keys are the agent
        id itself or its profile keys).
        """
        ...


class StorageBackend(StateReader, Protocol):
    """Durable home of run history and learner state."""

    async def open(self) -> None:
        """Connect and check the schema; called once before use."""
        ...

    async def close(self) -> None: ...

    async def run_unit_of_work(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``work`` against a fresh unit of work and commit it atomically.

        Raises ``StorageUnavailableError`` when the backend cannot be reached
        (the caller keeps the runs and retries later) and ``StorageError`` when
        it rejects the data.
        """
        ...

    async def list_agents(self) -> list[str]: ...

    async def list_run_ids(self, agent_id: str) -> list[UUID]:
        """Run ids in the order they were stored (NeMo Relay's ``runs_index``)."""
        ...

    async def load_runs(self, agent_id: str, run_ids: Sequence[UUID]) -> list[RunRecord]: ...

    async def list_acg_keys(self, agent_id: str) -> list[str]:
        """ACG keys that belong to an agent: its aggregate key and its profile keys."""
        ...
