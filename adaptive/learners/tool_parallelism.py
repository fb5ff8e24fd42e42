"""Tool-parallelism learner: which tools run at the same time (DESIGN §5.1)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from adaptive.acg.canonical import sha256_hex
from adaptive.hot_cache import HotCache
from adaptive.learners.base import LearnerUpdate
from adaptive.plan import ExecutionPlan, MetadataEnvelope, ParallelGroup, ParallelHint
from adaptive.records import CallKind, CallRecord, RunRecord
from adaptive.storage.protocol import StateChanges, StateReader

Cohort = tuple[str, ...]


@dataclass(frozen=True)
class CohortObservation:
    """One step of the sweep that found overlap: a tool call started while others ran.

    ``members`` are indexes into the run's ``calls``: the calls still running
    and ``starter``, the call whose start formed the cohort.
    """

    starter: int
    members: tuple[int, ...]
    tool_names: Cohort
    """The members' names, sorted: the cohort as the plan records it."""


def cohort_observations(calls: Sequence[CallRecord]) -> list[CohortObservation]:
    """Every point of the sweep (DESIGN §5.1) at which a tool call started beside others.

    Sweep over finished tool calls by start time; a call that ends exactly
    when another starts does not overlap it. Storage keeps, per call, the
    cohort it formed and the widest one it was part of, so analytics group on
    the very cohorts the learner learns from.
    """
    spans = sorted(
        (
            (call.started_at, index, call.ended_at)
            for index, call in enumerate(calls)
            if call.kind is CallKind.TOOL and call.ended_at is not None
        ),
        key=lambda span: span[0],
    )
    active: list[tuple[int, int]] = []
    observations: list[CohortObservation] = []
    for started_at, index, ended_at in spans:
        active = [(member, end) for member, end in active if end > started_at]
        if active:
            members = (*(member for member, _ in active), index)
            names = tuple(sorted(calls[member].name for member in members))
            observations.append(CohortObservation(index, members, names))
        active.append((index, ended_at))
    return observations


def observed_cohorts(run: RunRecord) -> list[Cohort]:
    """Sorted, distinct sets of tool names whose spans overlapped in a run."""
    return sorted({observation.tool_names for observation in cohort_observations(run.calls)})


def group_id_for(tool_names: Sequence[str]) -> str:
    """NeMo Relay's group id: 12 characters of ``sha256:<hex>``, i.e. 5 hex digits."""
    return "fanout:" + sha256_hex("|".join(tool_names))[:12]


def empty_plan(agent_id: str, run_id: UUID) -> ExecutionPlan:
    return ExecutionPlan(
        agent_id=agent_id,
        parallel_groups=[],
        metadata_template=MetadataEnvelope(run_id=run_id, agent_id=agent_id),
    )


def merge_cohorts(plan: ExecutionPlan, cohorts: Iterable[Cohort], run_id: UUID) -> ExecutionPlan:
    """A new plan with the cohorts added; groups and hints keyed and sorted by id."""
    groups = {group.group_id: group for group in plan.parallel_groups}
    hints = {
        (hint.tool_name, hint.group_id): hint for hint in plan.metadata_template.parallel_hints
    }
    for cohort in cohorts:
        group_id = group_id_for(cohort)
        groups[group_id] = ParallelGroup(group_id=group_id, tool_names=list(cohort))
        for tool_name in dict.fromkeys(cohort):
            hints[(tool_name, group_id)] = ParallelHint(
                tool_name=tool_name, group_id=group_id, explicit=False
            )
    template = plan.metadata_template.model_copy(
        update={
            "agent_id": plan.agent_id,
            "run_id": run_id,
            "parallel_hints": [hints[key] for key in sorted(hints)],
        }
    )
    return plan.model_copy(
        update={
            "parallel_groups": [groups[key] for key in sorted(groups)],
            "metadata_template": template,
        }
    )


class ToolParallelismLearner:
    """Merges observed tool fan-outs into the agent's execution plan."""

    name = "tool_parallelism"

    async def learn(
        self, agent_id: str, runs: Sequence[RunRecord], state: StateReader
    ) -> LearnerUpdate:
        plan: ExecutionPlan | None = None
        loaded = False
        for run in runs:
            cohorts = observed_cohorts(run)
            if not cohorts:
                continue
            if not loaded:
                plan = await state.load_plan(agent_id)
                loaded = True
            base = plan if plan is not None else empty_plan(agent_id, run.id)
            if base.agent_id != agent_id:
                base = base.model_copy(update={"agent_id": agent_id})
            plan = merge_cohorts(base, cohorts, run.id)
        if plan is None or not loaded:
            return LearnerUpdate()
        learned = plan

        def refresh(cache: HotCache) -> None:
            cache.plan = learned

        return LearnerUpdate(changes=StateChanges(plans={agent_id: learned}), refresh=refresh)
