"""Tool-parallelism learner: which tools run at the same time (DESIGN §5.1)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from adaptive.acg.canonical import sha256_hex
from adaptive.hot_cache import HotCache
from adaptive.learners.base import LearnerUpdate
from adaptive.plan import ExecutionPlan, MetadataEnvelope, ParallelGroup, ParallelHint
from adaptive.records import CallKind, RunRecord
from adaptive.storage.protocol import StateChanges, StateReader

Cohort = tuple[str, ...]


def observed_cohorts(run: RunRecord) -> list[Cohort]:
    """Sorted, distinct sets of tool names whose spans overlapped in a run.

    Sweep over finished tool calls by start time; a call that ends exactly
    when another starts does not overlap it.
    """
    calls = sorted(
        (call for call in run.calls if call.kind is CallKind.TOOL and call.ended_at is not None),
        key=lambda call: call.started_at,
    )
    active: list[tuple[str, int]] = []
    cohorts: set[Cohort] = set()
    for call in calls:
        assert call.ended_at is not None
        active = [(name, ended) for name, ended in active if ended > call.started_at]
        if active:
            cohorts.add(tuple(sorted([*(name for name, _ in active), call.name])))
        active.append((call.name, call.ended_at))
    return sorted(cohorts)


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
