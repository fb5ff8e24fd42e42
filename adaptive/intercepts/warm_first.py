"""Warm-first tool scheduling (seed 000): let one tool of a learned fan-out go first.

Tools that the plan says run in parallel usually send LLM requests sharing a
long stable prompt prefix. If they all start at once, each pays for the cold
prefix; if one (the primer) starts first, the others (followers) hit a warm
provider cache. Waiting costs latency, so a follower waits at most 150 ms, and
the intercept only coordinates when the learned state says it pays off:

- the tool belongs to a learned parallel group of two or more tools;
- ACG has seen at least ``MIN_ACG_OBSERVATIONS`` prompts and found a stable
  prefix;
- benefit units (stable prefix length * followers * confidence, confidence =
  observations capped at 4) exceed coordination cost units (12 + 4 * followers^2).

Modes (``tool_parallelism.mode``): ``observe_only`` never changes a call;
``inject_hints`` runs every call at once and reports the tool's learned
parallel hint (the bridge records it as a mark); ``schedule`` gates cohorts.

Every decision can explain itself: ``warm_first_verdict`` says for one
learned group whether it is gated and, if not, which rule stopped it (what
``adaptive plan show`` prints). The intercept works the verdict out once per
group and learned state, and logs it at debug level when it does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from adaptive.config import ToolParallelismMode
from adaptive.hot_cache import HotCache
from adaptive.intercepts.cohort_gate import (
    WARM_FIRST_MAX_WAIT_S,
    CohortGate,
    CohortRole,
    LocalCohortGate,
    cohort_key,
)
from adaptive.plan import ExecutionPlan, ParallelGroup, ParallelHint

if TYPE_CHECKING:
    from adaptive.acg import StabilityAnalysisResult

T = TypeVar("T")
logger = logging.getLogger(__name__)

MIN_ACG_OBSERVATIONS = 2
"""ACG observations needed before a stable prefix is trusted (NeMo Relay's value)."""

MAX_CONFIDENCE_UNITS = 4
BASE_COORDINATION_COST = 12
COST_PER_FOLLOWER_SQUARED = 4


@dataclass(frozen=True, slots=True)
class WarmFirstEligibility:
    """The seed's benefit/cost units for one cohort of a learned group."""

    follower_count: int
    confidence_units: int
    expected_benefit_units: int
    coordination_cost_units: int

    @classmethod
    def evaluate(
        cls, group_width: int, stable_prefix_length: int, acg_observation_count: int
    ) -> WarmFirstEligibility:
        followers = max(group_width - 1, 0)
        confidence = min(acg_observation_count, MAX_CONFIDENCE_UNITS)
        return cls(
            follower_count=followers,
            confidence_units=confidence,
            expected_benefit_units=stable_prefix_length * followers * confidence,
            coordination_cost_units=BASE_COORDINATION_COST
            + COST_PER_FOLLOWER_SQUARED * followers * followers,
        )

    @property
    def is_eligible(self) -> bool:
        return self.expected_benefit_units > self.coordination_cost_units

    def describe(self, stable_prefix_length: int) -> str:
        """Both sides of the rule, with the figures they come from."""
        followers = self.follower_count
        benefit = (
            f"benefit {self.expected_benefit_units} units (stable prefix {stable_prefix_length} "
            f"x {followers} follower{'s' if followers != 1 else ''} "
            f"x confidence {self.confidence_units})"
        )
        cost = (
            f"coordination cost {self.coordination_cost_units} units "
            f"({BASE_COORDINATION_COST} + {COST_PER_FOLLOWER_SQUARED} x {followers}^2)"
        )
        if self.is_eligible:
            return f"{benefit} exceeds {cost}"
        return f"{benefit} is not greater than {cost}"


@dataclass(frozen=True, slots=True)
class WarmFirstVerdict:
    """Whether warm-first gates one learned group in schedule mode, and why (not)."""

    group_id: str
    tool_names: tuple[str, ...]
    gated: bool
    reason: str
    stable_prefix_length: int
    observations: int
    eligibility: WarmFirstEligibility | None = None
    """The benefit/cost units, when the rule got as far as comparing them."""

    def __str__(self) -> str:
        tools = ", ".join(self.tool_names)
        verdict = "gated" if self.gated else "not gated"
        return f"group {self.group_id} ({tools}) {verdict}: {self.reason}"


def warm_first_verdict(
    group: ParallelGroup, stability: StabilityAnalysisResult | None, observations: int
) -> WarmFirstVerdict:
    """Apply the eligibility rule to one learned group, naming the first rule it fails."""
    prefix = stability.stable_prefix_length if stability is not None else 0

    def verdict(reason: str, eligibility: WarmFirstEligibility | None = None) -> WarmFirstVerdict:
        gated = eligibility is not None and eligibility.is_eligible
        names = tuple(group.tool_names)
        return WarmFirstVerdict(
            group.group_id, names, gated, reason, prefix, observations, eligibility
        )

    if len(group.tool_names) <= 1:
        return verdict("a group of one tool has no follower to hold back")
    if stability is None:
        return verdict("no prompt-cache (ACG) stability learned yet")
    if prefix == 0:
        return verdict("no stable prompt prefix: a follower would find nothing warm to reuse")
    if observations < MIN_ACG_OBSERVATIONS:
        return verdict(
            f"{observations} prompt(s) observed; the stable prefix is trusted from "
            f"{MIN_ACG_OBSERVATIONS} on"
        )
    eligibility = WarmFirstEligibility.evaluate(len(group.tool_names), prefix, observations)
    return verdict(eligibility.describe(prefix), eligibility)


@dataclass(frozen=True, slots=True)
class ToolScope:
    """Where a tool call sits: its run's root scope and the scope it fans out from."""

    root_uuid: UUID
    shared_parent_uuid: UUID


@dataclass(frozen=True, slots=True)
class _PlanIndex:
    """A plan's hints and groups by name, so each call is two dict lookups."""

    plan: ExecutionPlan
    hints: dict[str, ParallelHint]
    groups: dict[str, ParallelGroup]

    @classmethod
    def of(cls, plan: ExecutionPlan) -> _PlanIndex:
        hints: dict[str, ParallelHint] = {}
        for hint in plan.metadata_template.parallel_hints:
            hints.setdefault(hint.tool_name, hint)
        groups = {group.group_id: group for group in plan.parallel_groups}
        return cls(plan, hints, groups)


@dataclass(slots=True)
class _VerdictMemo:
    """Verdicts for one plan index and one learned ACG state; replaced when either changes."""

    index: _PlanIndex
    stability: StabilityAnalysisResult | None
    observations: int
    verdicts: dict[str, WarmFirstVerdict]


def learned_group(plan_index: _PlanIndex, tool_name: str) -> tuple[ParallelHint, int] | None:
    """The tool's first learned hint and its group's width, if the group has 2+ tools."""
    hint = plan_index.hints.get(tool_name)
    if hint is None:
        return None
    group = plan_index.groups.get(hint.group_id)
    if group is None or len(group.tool_names) <= 1:
        return None
    return hint, len(group.tool_names)


class WarmFirstIntercept:
    """Decides per tool call whether to gate it, and runs the primer/follower protocol.

    Reads only the in-process ``HotCache``; the gate is in-process
    (``LocalCohortGate``) or cluster-wide (``RedisCohortGate``). The plan index
    is rebuilt only when the drain swaps in a new plan object.
    """

    def __init__(
        self,
        hot_cache: HotCache,
        mode: ToolParallelismMode = ToolParallelismMode.OBSERVE_ONLY,
        gate: CohortGate | None = None,
        *,
        max_wait_s: float = WARM_FIRST_MAX_WAIT_S,
    ) -> None:
        self.hot_cache = hot_cache
        self.mode = ToolParallelismMode(mode)
        self.gate: CohortGate = gate if gate is not None else LocalCohortGate()
        self.max_wait_s = max_wait_s
        self._index: _PlanIndex | None = None
        self._memo: _VerdictMemo | None = None

    def _plan_index(self) -> _PlanIndex | None:
        plan = self.hot_cache.plan
        if plan is None:
            return None
        index = self._index
        if index is None or index.plan is not plan:
            index = self._index = _PlanIndex.of(plan)
        return index

    def parallel_hint(self, tool_name: str) -> ParallelHint | None:
        """The learned hint for a tool of a parallel group (what ``inject_hints`` reports)."""
        if self.mode is ToolParallelismMode.OBSERVE_ONLY:
            return None
        index = self._plan_index()
        found = learned_group(index, tool_name) if index is not None else None
        return found[0] if found is not None else None

    def eligible_group(self, tool_name: str) -> str | None:
        """The group id to gate this tool on, or ``None`` to run it at once."""
        if self.mode is not ToolParallelismMode.SCHEDULE:
            return None
        index = self._plan_index()
        if index is None:
            return None
        found = learned_group(index, tool_name)
        if found is None:
            return None
        verdict = self._verdict(index, found[0].group_id)
        return verdict.group_id if verdict.gated else None

    def _verdict(self, index: _PlanIndex, group_id: str) -> WarmFirstVerdict:
        """The group's verdict, worked out (and logged) once per group and learned state."""
        cache = self.hot_cache
        memo = self._memo
        if (
            memo is None
            or memo.index is not index
            or memo.stability is not cache.acg_stability
            or memo.observations != cache.acg_observation_count
        ):
            memo = self._memo = _VerdictMemo(
                index, cache.acg_stability, cache.acg_observation_count, {}
            )
        verdict = memo.verdicts.get(group_id)
        if verdict is None:
            group = index.groups[group_id]
            verdict = warm_first_verdict(group, memo.stability, memo.observations)
            memo.verdicts[group_id] = verdict
            logger.debug("warm-first: %s", verdict)
        return verdict

    def verdicts(self) -> list[WarmFirstVerdict]:
        """Every learned group's verdict on the current learned state (schedule mode's rule)."""
        index = self._plan_index()
        if index is None:
            return []
        return [self._verdict(index, group.group_id) for group in index.plan.parallel_groups]

    def explain(self, tool_name: str) -> WarmFirstVerdict | None:
        """The verdict for the group this tool is gated on; ``None`` outside every group."""
        index = self._plan_index()
        found = learned_group(index, tool_name) if index is not None else None
        if index is None or found is None:
            return None
        return self._verdict(index, found[0].group_id)

    async def run(
        self,
        tool_name: str,
        scope: Callable[[], ToolScope | None],
        call: Callable[[], Awaitable[T]],
    ) -> T:
        """Run ``call`` now, or as primer/follower of its cohort.

        ``scope`` is only called for eligible tools: resolving scope identity
        costs more than the decision itself.
        """
        group_id = self.eligible_group(tool_name)
        if group_id is None:
            return await call()
        where = scope()
        if where is None:
            return await call()
        return await self.run_in_cohort(
            cohort_key(where.root_uuid, where.shared_parent_uuid, group_id), call
        )

    async def run_in_cohort(self, cohort: str, call: Callable[[], Awaitable[T]]) -> T:
        """Primer runs and then releases (even if it fails); followers wait, capped.

        A gate that fails (Redis unreachable) never fails the tool: the call
        runs ungated, as it would without a learned plan.
        """
        try:
            role = await self.gate.join(cohort)
        except Exception:
            logger.warning("cohort gate unavailable; running %s ungated", cohort, exc_info=True)
            return await call()
        if role is CohortRole.FOLLOWER:
            try:
                await self.gate.wait(cohort, self.max_wait_s)
            except Exception:
                logger.warning("cohort gate wait failed for %s", cohort, exc_info=True)
            return await call()
        try:
            return await call()
        finally:
            try:
                await self.gate.release(cohort)
            except Exception:
                logger.warning("cohort gate release failed for %s", cohort, exc_info=True)
