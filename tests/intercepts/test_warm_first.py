"""Warm-first tool scheduling (seed 000): who is eligible, and primer/follower ordering."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from uuid import UUID

import pytest

from adaptive.acg import StabilityAnalysisResult
from adaptive.config import ToolParallelismMode
from adaptive.hot_cache import HotCache
from adaptive.intercepts import (
    WARM_FIRST_MAX_WAIT_S,
    CohortGate,
    CohortRole,
    LocalCohortGate,
    cohort_key,
)
from adaptive.intercepts.warm_first import (
    MIN_ACG_OBSERVATIONS,
    ToolScope,
    WarmFirstEligibility,
    WarmFirstIntercept,
)
from adaptive.plan import ExecutionPlan, MetadataEnvelope, ParallelGroup, ParallelHint
from tests.factories import load_sample_state

ROOT = UUID(int=1)
PARENT = UUID(int=2)
OTHER_ROOT = UUID(int=3)
OTHER_PARENT = UUID(int=4)

WIDE = "fanout:wide"  # fetch, rank, search
PAIR = "fanout:pair"  # alpha, beta
SOLO = "fanout:solo"  # lonely

LONG_WAIT_S = 5.0  # a cap no test should ever reach: releases must come from the primer
FAST_S = 1.0  # "well under the cap": a release by the primer happens within this
NOT_SCHEDULING = [ToolParallelismMode.OBSERVE_ONLY, ToolParallelismMode.INJECT_HINTS]


def plan_of(
    groups: dict[str, list[str]], hints: list[tuple[str, str]] | None = None
) -> ExecutionPlan:
    """A plan with these groups; hints default to one per (tool, group) in group order."""
    if hints is None:
        hints = [(tool, group) for group, tools in groups.items() for tool in tools]
    return ExecutionPlan(
        agent_id="planner",
        parallel_groups=[
            ParallelGroup(group_id=group, tool_names=tools) for group, tools in groups.items()
        ],
        metadata_template=MetadataEnvelope(
            run_id=UUID(int=99),
            agent_id="planner",
            parallel_hints=[
                ParallelHint(tool_name=tool, group_id=group, explicit=False)
                for tool, group in hints
            ],
        ),
    )


def stability(prefix_length: int, total_observations: int = 50) -> StabilityAnalysisResult:
    return StabilityAnalysisResult(
        scores=[], stable_prefix_length=prefix_length, total_observations=total_observations
    )


def default_plan() -> ExecutionPlan:
    return plan_of(
        {WIDE: ["fetch", "rank", "search"], PAIR: ["alpha", "beta"], SOLO: ["lonely"]},
        hints=[
            ("fetch", WIDE),
            ("rank", WIDE),
            ("search", WIDE),
            ("alpha", PAIR),
            ("beta", PAIR),
            ("lonely", SOLO),
            ("orphan", "fanout:missing"),  # a hint whose group the plan does not have
        ],
    )


def eligible_cache(
    plan: ExecutionPlan | None = None, *, prefix_length: int = 8, observations: int = 4
) -> HotCache:
    """WIDE: 2 followers, benefit 8*2*4 = 64 > cost 12+4*4 = 28; PAIR: 8*1*4 = 32 > 16."""
    return HotCache(
        plan=plan if plan is not None else default_plan(),
        acg_stability=stability(prefix_length),
        acg_observation_count=observations,
    )


def scheduling(
    cache: HotCache | None = None,
    gate: CohortGate | None = None,
    *,
    max_wait_s: float = LONG_WAIT_S,
) -> WarmFirstIntercept:
    return WarmFirstIntercept(
        cache if cache is not None else eligible_cache(),
        ToolParallelismMode.SCHEDULE,
        gate,
        max_wait_s=max_wait_s,
    )


def at(root: UUID = ROOT, parent: UUID = PARENT) -> Callable[[], ToolScope]:
    return lambda: ToolScope(root, parent)


class Tool:
    """A tool call that logs its start and end, optionally held open until an event is set."""

    def __init__(
        self,
        name: str,
        log: list[str],
        *,
        hold: asyncio.Event | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.name = name
        self.log = log
        self.hold = hold
        self.error = error
        self.started = asyncio.Event()
        self.started_at: float | None = None
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        self.started_at = time.monotonic()
        self.log.append(f"{self.name} start")
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        self.log.append(f"{self.name} end")
        if self.error is not None:
            raise self.error
        return f"{self.name} result"


async def until_started(tool: Tool) -> None:
    """Until the tool call has started (failing, not hanging, if it never does)."""
    await asyncio.wait_for(tool.started.wait(), FAST_S)


async def settle() -> None:
    """Let every ready task run until it blocks (joining and waiting need no real time)."""
    for _ in range(20):
        await asyncio.sleep(0)


# -- benefit/cost units -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "prefix", "observations", "followers", "confidence", "benefit", "cost", "eligible"),
    [
        # the boundary: benefit must be strictly greater than cost
        (2, 4, 4, 1, 4, 4 * 1 * 4, 12 + 4 * 1, False),  # 16 vs 16
        (2, 5, 4, 1, 4, 5 * 1 * 4, 12 + 4 * 1, True),  # 20 vs 16
        (3, 4, 4, 2, 4, 4 * 2 * 4, 12 + 4 * 4, True),  # 32 vs 28
        (3, 3, 4, 2, 4, 3 * 2 * 4, 12 + 4 * 4, False),  # 24 vs 28
        (5, 10, 2, 4, 2, 10 * 4 * 2, 12 + 4 * 16, True),  # 80 vs 76
        (5, 9, 2, 4, 2, 9 * 4 * 2, 12 + 4 * 16, False),  # 72 vs 76
        # confidence is capped at 4 observations
        (2, 4, 9, 1, 4, 4 * 1 * 4, 12 + 4 * 1, False),  # still 16 vs 16
        (2, 3, 1000, 1, 4, 3 * 1 * 4, 12 + 4 * 1, False),  # 12 vs 16
        (2, 9, 3, 1, 3, 9 * 1 * 3, 12 + 4 * 1, True),  # 27 vs 16
        # no observations, no confidence; no followers, nothing to gain
        (3, 100, 0, 2, 0, 0, 12 + 4 * 4, False),
        (1, 100, 4, 0, 4, 0, 12, False),
        (0, 100, 4, 0, 4, 0, 12, False),  # followers never go negative
    ],
)
def test_eligibility_units(
    width: int,
    prefix: int,
    observations: int,
    followers: int,
    confidence: int,
    benefit: int,
    cost: int,
    eligible: bool,
) -> None:
    units = WarmFirstEligibility.evaluate(width, prefix, observations)
    assert units == WarmFirstEligibility(
        follower_count=followers,
        confidence_units=confidence,
        expected_benefit_units=benefit,
        coordination_cost_units=cost,
    )
    assert units.is_eligible is eligible


# -- eligible_group: every branch ------------------------------------------------------


@pytest.mark.parametrize("mode", NOT_SCHEDULING)
def test_only_schedule_mode_gates(mode: ToolParallelismMode) -> None:
    assert WarmFirstIntercept(eligible_cache(), mode).eligible_group("fetch") is None


def test_schedule_mode_gates_an_eligible_tool_on_its_group() -> None:
    intercept = scheduling()
    assert intercept.eligible_group("fetch") == WIDE
    assert intercept.eligible_group("rank") == WIDE
    assert intercept.eligible_group("alpha") == PAIR


def test_mode_may_be_given_as_its_config_string() -> None:
    intercept = WarmFirstIntercept(eligible_cache(), "schedule")  # type: ignore[arg-type]
    assert intercept.mode is ToolParallelismMode.SCHEDULE
    assert intercept.eligible_group("fetch") == WIDE


def test_default_mode_is_observe_only_with_a_local_gate() -> None:
    intercept = WarmFirstIntercept(eligible_cache())
    assert intercept.mode is ToolParallelismMode.OBSERVE_ONLY
    assert isinstance(intercept.gate, LocalCohortGate)
    assert intercept.max_wait_s == WARM_FIRST_MAX_WAIT_S == 0.150
    assert intercept.eligible_group("fetch") is None


def test_no_plan_is_not_eligible() -> None:
    cache = eligible_cache()
    cache.plan = None
    assert scheduling(cache).eligible_group("fetch") is None


def test_tool_without_a_hint_is_not_eligible() -> None:
    assert scheduling().eligible_group("unknown_tool") is None


def test_hint_whose_group_is_missing_is_not_eligible() -> None:
    assert scheduling().eligible_group("orphan") is None


def test_group_of_one_tool_is_not_eligible() -> None:
    assert scheduling().eligible_group("lonely") is None


def test_only_the_tools_first_hint_counts() -> None:
    plan = plan_of(
        {SOLO: ["fetch"], WIDE: ["fetch", "rank", "search"]},
        hints=[("fetch", SOLO), ("fetch", WIDE), ("rank", WIDE)],
    )
    intercept = scheduling(eligible_cache(plan))
    assert intercept.eligible_group("fetch") is None  # its first hint is a group of one
    assert intercept.eligible_group("rank") == WIDE


def test_no_acg_stability_is_not_eligible() -> None:
    cache = eligible_cache(observations=4)
    cache.acg_stability = None
    assert scheduling(cache).eligible_group("fetch") is None


def test_no_stable_prefix_is_not_eligible() -> None:
    assert scheduling(eligible_cache(prefix_length=0)).eligible_group("fetch") is None


def test_too_few_acg_observations_are_not_trusted() -> None:
    assert MIN_ACG_OBSERVATIONS == 2
    # 1 observation: units alone would pass (100 * 2 * 1 = 200 > 28), the minimum does not
    low = eligible_cache(prefix_length=100, observations=1)
    assert WarmFirstEligibility.evaluate(3, 100, 1).is_eligible
    assert scheduling(low).eligible_group("fetch") is None
    # exactly the minimum is enough
    assert scheduling(eligible_cache(prefix_length=100, observations=2)).eligible_group(
        "fetch"
    ) == (WIDE)


def test_observation_count_comes_from_the_cache_not_the_stability_result() -> None:
    cache = eligible_cache(prefix_length=100, observations=1)
    cache.acg_stability = stability(100, total_observations=500)
    assert scheduling(cache).eligible_group("fetch") is None


def test_not_eligible_by_units() -> None:
    # PAIR: 1 follower; prefix 4, 4 observations: 16 vs 16 is not enough
    cache = eligible_cache(prefix_length=4, observations=4)
    intercept = scheduling(cache)
    assert intercept.eligible_group("alpha") is None
    # WIDE: 2 followers: 32 vs 28 is
    assert intercept.eligible_group("fetch") == WIDE
    # one more prefix block makes the pair eligible: 20 vs 16
    cache.acg_stability = stability(5)
    assert intercept.eligible_group("alpha") == PAIR


def test_the_reference_sample_plan() -> None:
    """NeMo Relay's learned sample: stable prefix 4, so pairs are 16 vs 16, triples 32 vs 28."""
    state = load_sample_state()
    plan = ExecutionPlan.model_validate(state["plan:planner"])
    acg = StabilityAnalysisResult.model_validate(state["acg_stability:planner"])
    assert acg.stable_prefix_length == 4
    cache = HotCache(plan=plan, acg_stability=acg, acg_observation_count=acg.total_observations)
    intercept = scheduling(cache)
    assert intercept.eligible_group("fetch") is None  # first hint: fetch+rank
    assert intercept.eligible_group("rank") is None  # first hint: fetch+rank
    assert intercept.eligible_group("search") == "fanout:sha256:613d7"  # fetch+rank+search


# -- verdicts: why a group is (not) gated ----------------------------------------------------


@pytest.mark.parametrize(
    ("cache", "tool", "gated", "reason"),
    [
        (eligible_cache(prefix_length=4), "alpha", False,
         "benefit 16 units (stable prefix 4 x 1 follower x confidence 4) is not greater than "
         "coordination cost 16 units (12 + 4 x 1^2)"),
        (eligible_cache(prefix_length=5), "alpha", True,
         "benefit 20 units (stable prefix 5 x 1 follower x confidence 4) exceeds coordination "
         "cost 16 units (12 + 4 x 1^2)"),
        (eligible_cache(prefix_length=4), "fetch", True,
         "benefit 32 units (stable prefix 4 x 2 followers x confidence 4) exceeds coordination "
         "cost 28 units (12 + 4 x 2^2)"),
        (eligible_cache(prefix_length=0), "fetch", False,
         "no stable prompt prefix: a follower would find nothing warm to reuse"),
        (eligible_cache(observations=1), "fetch", False,
         "1 prompt(s) observed; the stable prefix is trusted from 2 on"),
        (HotCache(plan=default_plan()), "fetch", False,
         "no prompt-cache (ACG) stability learned yet"),
    ],
)  # fmt: skip
def test_a_verdict_names_the_rule_that_decided(
    cache: HotCache, tool: str, gated: bool, reason: str
) -> None:
    intercept = scheduling(cache)
    verdict = intercept.explain(tool)
    assert verdict is not None
    assert (verdict.gated, verdict.reason) == (gated, reason)
    assert (intercept.eligible_group(tool) is not None) is gated  # what the hot path does


def test_verdicts_cover_every_learned_group_and_say_so_in_one_line() -> None:
    verdicts = {v.group_id: v for v in scheduling(eligible_cache(prefix_length=4)).verdicts()}
    assert set(verdicts) == {WIDE, PAIR, SOLO}
    assert verdicts[SOLO].reason == "a group of one tool has no follower to hold back"
    assert str(verdicts[PAIR]).startswith(f"group {PAIR} (alpha, beta) not gated: benefit 16")
    assert scheduling(HotCache()).verdicts() == [] and scheduling().explain("nope") is None


def test_the_decision_is_logged_once_per_group_and_learned_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = eligible_cache(prefix_length=4)
    intercept = scheduling(cache)
    with caplog.at_level(logging.DEBUG, logger="adaptive.intercepts.warm_first"):
        for _ in range(3):
            intercept.eligible_group("alpha")
        cache.acg_stability = stability(5)  # learning moved on: decided (and logged) again
        intercept.eligible_group("alpha")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("warm-first")]
    assert lines == [
        f"warm-first: group {PAIR} (alpha, beta) not gated: benefit 16 units (stable prefix 4 "
        "x 1 follower x confidence 4) is not greater than coordination cost 16 units "
        "(12 + 4 x 1^2)",
        f"warm-first: group {PAIR} (alpha, beta) gated: benefit 20 units (stable prefix 5 "
        "x 1 follower x confidence 4) exceeds coordination cost 16 units (12 + 4 x 1^2)",
    ]


# -- parallel_hint -------------------------------------------------------------------------


def test_parallel_hint_is_never_reported_when_observing() -> None:
    intercept = WarmFirstIntercept(eligible_cache(), ToolParallelismMode.OBSERVE_ONLY)
    assert intercept.parallel_hint("fetch") is None


@pytest.mark.parametrize("mode", [ToolParallelismMode.INJECT_HINTS, ToolParallelismMode.SCHEDULE])
def test_parallel_hint_reports_the_first_learned_hint(mode: ToolParallelismMode) -> None:
    intercept = WarmFirstIntercept(eligible_cache(), mode)
    assert intercept.parallel_hint("fetch") == ParallelHint(
        tool_name="fetch", group_id=WIDE, explicit=False
    )
    assert intercept.parallel_hint("beta") == ParallelHint(
        tool_name="beta", group_id=PAIR, explicit=False
    )
    assert intercept.parallel_hint("lonely") is None
    assert intercept.parallel_hint("orphan") is None
    assert intercept.parallel_hint("unknown_tool") is None


def test_parallel_hint_needs_no_acg_stability_but_a_plan() -> None:
    cache = HotCache(plan=default_plan())  # no ACG result, no observations
    intercept = WarmFirstIntercept(cache, ToolParallelismMode.INJECT_HINTS)
    hint = intercept.parallel_hint("search")
    assert hint is not None
    assert hint.group_id == WIDE
    assert intercept.eligible_group("search") is None  # not schedule mode anyway
    cache.plan = None
    assert intercept.parallel_hint("search") is None


# -- plan index refresh ------------------------------------------------------------------


def test_plan_index_follows_a_replaced_plan_object() -> None:
    cache = eligible_cache()
    intercept = scheduling(cache)
    assert intercept.eligible_group("fetch") == WIDE
    assert intercept.parallel_hint("fetch") is not None

    cache.plan = plan_of({SOLO: ["fetch"]})  # the drain swaps in a new plan
    assert intercept.eligible_group("fetch") is None
    assert intercept.parallel_hint("fetch") is None

    cache.plan = plan_of({"fanout:new": ["fetch", "other", "third"]})
    assert intercept.eligible_group("fetch") == "fanout:new"
    hint = intercept.parallel_hint("fetch")
    assert hint is not None
    assert hint.group_id == "fanout:new"

    cache.plan = None
    assert intercept.eligible_group("fetch") is None
    cache.plan = default_plan()  # equal content, new object
    assert intercept.eligible_group("fetch") == WIDE


def test_plan_index_is_kept_while_the_plan_object_is_the_same() -> None:
    """The index is rebuilt per plan object, not per call (the cache never mutates a plan)."""
    cache = eligible_cache()
    intercept = scheduling(cache)
    assert intercept.eligible_group("newcomer") is None
    assert cache.plan is not None
    cache.plan.parallel_groups.append(ParallelGroup(group_id="late", tool_names=["newcomer", "x"]))
    cache.plan.metadata_template.parallel_hints.append(
        ParallelHint(tool_name="newcomer", group_id="late", explicit=False)
    )
    assert intercept.eligible_group("newcomer") is None  # same object: index not rebuilt
    cache.plan = cache.plan.model_copy(deep=True)
    assert intercept.eligible_group("newcomer") == "late"


# -- primer and followers ------------------------------------------------------------------


async def test_first_caller_is_primer_and_followers_start_after_it_finished() -> None:
    gate = LocalCohortGate()
    intercept = scheduling(gate=gate)
    log: list[str] = []
    hold = asyncio.Event()
    primer = Tool("fetch", log, hold=hold)
    followers = [Tool("rank", log), Tool("search", log)]
    # all three are started together; the first one scheduled is the primer
    tasks = [
        asyncio.create_task(intercept.run(tool.name, at(), tool)) for tool in [primer, *followers]
    ]
    await until_started(primer)
    await settle()
    assert log == ["fetch start"]  # the followers are waiting
    assert len(gate) == 1
    assert not any(task.done() for task in tasks)

    released_at = time.monotonic()
    hold.set()
    assert await asyncio.gather(*tasks) == ["fetch result", "rank result", "search result"]
    assert log[:2] == ["fetch start", "fetch end"]
    assert sorted(log[2:]) == ["rank end", "rank start", "search end", "search start"]
    for follower in followers:
        assert follower.started_at is not None
        assert follower.started_at - released_at < FAST_S  # released, not timed out (5 s)
    assert len(gate) == 0


async def test_the_cohort_key_is_root_parent_and_group() -> None:
    gate = LocalCohortGate()
    intercept = scheduling(gate=gate)
    hold = asyncio.Event()
    primer = Tool("fetch", [], hold=hold)
    task = asyncio.create_task(intercept.run("fetch", at(), primer))
    await until_started(primer)
    assert await gate.join(cohort_key(ROOT, PARENT, WIDE)) is CohortRole.FOLLOWER
    assert len(gate) == 1
    hold.set()
    await task
    assert len(gate) == 0


async def test_followers_of_a_hanging_primer_run_after_max_wait() -> None:
    max_wait = 0.05
    gate = LocalCohortGate()
    intercept = scheduling(gate=gate, max_wait_s=max_wait)
    log: list[str] = []
    hold = asyncio.Event()
    primer = Tool("fetch", log, hold=hold)
    primer_task = asyncio.create_task(intercept.run("fetch", at(), primer))
    await until_started(primer)

    followers = [Tool("rank", log), Tool("search", log)]
    started = time.monotonic()
    both = asyncio.gather(*(intercept.run(f.name, at(), f) for f in followers))
    results = await asyncio.wait_for(both, FAST_S)
    assert results == ["rank result", "search result"]
    for follower in followers:
        assert follower.started_at is not None
        waited = follower.started_at - started
        assert max_wait <= waited < FAST_S
    assert time.monotonic() - started < FAST_S  # they waited side by side, not one after another
    assert log[0] == "fetch start"
    assert "fetch end" not in log  # the primer is still hanging
    assert not primer_task.done()
    assert len(gate) == 1

    hold.set()
    assert await primer_task == "fetch result"
    assert len(gate) == 0


async def test_a_failing_primer_releases_its_followers_and_its_error_propagates() -> None:
    gate = LocalCohortGate()
    intercept = scheduling(gate=gate)
    log: list[str] = []
    hold = asyncio.Event()
    boom = RuntimeError("boom")
    primer = Tool("fetch", log, hold=hold, error=boom)
    primer_task = asyncio.create_task(intercept.run("fetch", at(), primer))
    await until_started(primer)
    followers = [Tool("rank", log), Tool("search", log)]
    follower_tasks = [asyncio.create_task(intercept.run(f.name, at(), f)) for f in followers]
    await settle()
    assert log == ["fetch start"]

    released_at = time.monotonic()
    hold.set()
    with pytest.raises(RuntimeError, match="boom") as raised:
        await primer_task
    assert raised.value is boom
    assert await asyncio.gather(*follower_tasks) == ["rank result", "search result"]
    assert log[:2] == ["fetch start", "fetch end"]
    for follower in followers:
        assert follower.started_at is not None
        assert follower.started_at - released_at < FAST_S
    assert len(gate) == 0


async def test_a_cancelled_primer_releases_its_followers() -> None:
    gate = LocalCohortGate()
    intercept = scheduling(gate=gate)
    log: list[str] = []
    primer = Tool("fetch", log, hold=asyncio.Event())  # never set
    primer_task = asyncio.create_task(intercept.run("fetch", at(), primer))
    await until_started(primer)
    follower = Tool("rank", log)
    follower_task = asyncio.create_task(intercept.run("rank", at(), follower))
    await settle()
    assert not follower_task.done()

    cancelled_at = time.monotonic()
    primer_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await primer_task
    assert await follower_task == "rank result"
    assert follower.started_at is not None
    assert follower.started_at - cancelled_at < FAST_S
    assert len(gate) == 0


async def test_after_the_release_the_next_caller_is_a_primer_again() -> None:
    gate = LocalCohortGate()
    intercept = scheduling(gate=gate)
    log: list[str] = []
    assert await intercept.run("fetch", at(), Tool("fetch", log)) == "fetch result"
    assert len(gate) == 0

    hold = asyncio.Event()
    second = Tool("rank", log, hold=hold)
    second_task = asyncio.create_task(intercept.run("rank", at(), second))
    await until_started(second)  # ran at once: nobody is ahead of it
    assert len(gate) == 1  # and it opened a new cohort
    follower = Tool("search", log)
    follower_task = asyncio.create_task(intercept.run("search", at(), follower))
    await settle()
    assert follower.calls == 0  # which the next caller follows

    hold.set()
    await asyncio.gather(second_task, follower_task)
    assert log == [
        "fetch start",
        "fetch end",
        "rank start",
        "rank end",
        "search start",
        "search end",
    ]
    assert len(gate) == 0


@pytest.mark.parametrize(
    ("root", "parent", "tool"),
    [
        (ROOT, OTHER_PARENT, "rank"),  # another fan-out of the same run
        (OTHER_ROOT, PARENT, "rank"),  # another run
        (ROOT, PARENT, "alpha"),  # another group under the same parent
    ],
)
async def test_different_cohorts_do_not_wait_on_each_other(
    root: UUID, parent: UUID, tool: str
) -> None:
    gate = LocalCohortGate()
    intercept = scheduling(gate=gate)
    log: list[str] = []
    hold = asyncio.Event()
    primer = Tool("fetch", log, hold=hold)
    primer_task = asyncio.create_task(intercept.run("fetch", at(), primer))
    await until_started(primer)

    gates_open_inside: list[int] = []

    async def other_call() -> str:
        gates_open_inside.append(len(gate))
        return await Tool(tool, log)()

    result = await asyncio.wait_for(intercept.run(tool, at(root, parent), other_call), FAST_S)
    assert result == f"{tool} result"
    assert gates_open_inside == [2]  # it was the primer of its own cohort
    assert log == ["fetch start", f"{tool} start", f"{tool} end"]
    assert len(gate) == 1  # only the hanging primer's cohort is open

    hold.set()
    await primer_task
    assert len(gate) == 0


# -- scope resolution ------------------------------------------------------------------


class CountingScope:
    def __init__(self, scope: ToolScope | None) -> None:
        self.scope = scope
        self.calls = 0

    def __call__(self) -> ToolScope | None:
        self.calls += 1
        return self.scope


@pytest.mark.parametrize("tool", ["unknown_tool", "lonely", "orphan"])
async def test_scope_is_not_resolved_for_a_tool_that_is_not_eligible(tool: str) -> None:
    gate = LocalCohortGate()
    intercept = scheduling(gate=gate)
    scope = CountingScope(ToolScope(ROOT, PARENT))
    assert await intercept.run(tool, scope, Tool(tool, [])) == f"{tool} result"
    assert scope.calls == 0


@pytest.mark.parametrize("mode", NOT_SCHEDULING)
async def test_scope_is_not_resolved_outside_schedule_mode(mode: ToolParallelismMode) -> None:
    gate = LocalCohortGate()
    intercept = WarmFirstIntercept(eligible_cache(), mode, gate)
    scope = CountingScope(ToolScope(ROOT, PARENT))
    log: list[str] = []
    hold = asyncio.Event()
    first = Tool("fetch", log, hold=hold)
    first_task = asyncio.create_task(intercept.run("fetch", scope, first))
    await until_started(first)
    # a would-be follower runs at once: nothing is gated
    assert await asyncio.wait_for(intercept.run("rank", scope, Tool("rank", log)), FAST_S) == (
        "rank result"
    )
    assert len(gate) == 0
    hold.set()
    await first_task
    assert scope.calls == 0


async def test_scope_is_resolved_once_for_an_eligible_tool() -> None:
    scope = CountingScope(ToolScope(ROOT, PARENT))
    assert await scheduling().run("fetch", scope, Tool("fetch", [])) == "fetch result"
    assert scope.calls == 1


async def test_an_eligible_tool_without_a_scope_runs_ungated() -> None:
    gate = LocalCohortGate()
    intercept = scheduling(gate=gate)
    scope = CountingScope(None)
    log: list[str] = []
    hold = asyncio.Event()
    first = Tool("fetch", log, hold=hold)
    first_task = asyncio.create_task(intercept.run("fetch", scope, first))
    await until_started(first)
    assert len(gate) == 0
    # a second call of the same group does not wait for the first
    assert await asyncio.wait_for(intercept.run("rank", scope, Tool("rank", log)), FAST_S) == (
        "rank result"
    )
    assert log == ["fetch start", "rank start", "rank end"]
    hold.set()
    assert await first_task == "fetch result"
    assert scope.calls == 2
    assert len(gate) == 0


# -- a failing gate never fails the tool --------------------------------------------------


class UnreachableGate:
    """A cluster gate whose backend is down: joining fails."""

    def __init__(self) -> None:
        self.joins: list[str] = []

    async def join(self, cohort: str) -> CohortRole:
        self.joins.append(cohort)
        raise ConnectionError("gate backend unreachable")

    async def release(self, cohort: str) -> None:
        raise AssertionError("release without a join")

    async def wait(self, cohort: str, max_wait: float = WARM_FIRST_MAX_WAIT_S) -> bool:
        raise AssertionError("wait without a join")


class FixedRoleGate:
    """A gate that hands out one role and then fails at ``wait`` or ``release``."""

    def __init__(self, role: CohortRole) -> None:
        self.role = role
        self.released: list[str] = []
        self.waited: list[tuple[str, float]] = []

    async def join(self, cohort: str) -> CohortRole:
        return self.role

    async def release(self, cohort: str) -> None:
        self.released.append(cohort)
        raise ConnectionError("release lost")

    async def wait(self, cohort: str, max_wait: float = WARM_FIRST_MAX_WAIT_S) -> bool:
        self.waited.append((cohort, max_wait))
        raise ConnectionError("wait lost")


async def test_a_gate_that_cannot_be_joined_runs_the_call_ungated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = UnreachableGate()
    intercept = scheduling(gate=gate)
    log: list[str] = []
    hold = asyncio.Event()
    first = Tool("fetch", log, hold=hold)
    with caplog.at_level(logging.WARNING, logger="adaptive.intercepts.warm_first"):
        first_task = asyncio.create_task(intercept.run("fetch", at(), first))
        await until_started(first)
        # the same cohort, but nothing coordinates it: the second call runs at once
        second = intercept.run("rank", at(), Tool("rank", log))
        assert await asyncio.wait_for(second, FAST_S) == "rank result"
        hold.set()
        assert await first_task == "fetch result"
    assert gate.joins == [cohort_key(ROOT, PARENT, WIDE)] * 2
    assert log == ["fetch start", "rank start", "rank end", "fetch end"]
    assert any("cohort gate unavailable" in record.getMessage() for record in caplog.records)


async def test_a_primer_whose_release_fails_still_returns_its_result() -> None:
    gate = FixedRoleGate(CohortRole.PRIMER)
    intercept = scheduling(gate=gate)
    assert await intercept.run("fetch", at(), Tool("fetch", [])) == "fetch result"
    assert gate.released == [cohort_key(ROOT, PARENT, WIDE)]
    assert gate.waited == []


async def test_a_failing_primer_with_a_failing_release_raises_its_own_error() -> None:
    gate = FixedRoleGate(CohortRole.PRIMER)
    intercept = scheduling(gate=gate)
    with pytest.raises(ValueError, match="tool failed"):
        await intercept.run("fetch", at(), Tool("fetch", [], error=ValueError("tool failed")))
    assert gate.released == [cohort_key(ROOT, PARENT, WIDE)]


async def test_a_follower_whose_wait_fails_still_runs() -> None:
    gate = FixedRoleGate(CohortRole.FOLLOWER)
    intercept = scheduling(gate=gate, max_wait_s=0.07)
    tool = Tool("rank", [])
    assert await intercept.run("rank", at(), tool) == "rank result"
    assert tool.calls == 1
    assert gate.waited == [(cohort_key(ROOT, PARENT, WIDE), 0.07)]
    assert gate.released == []  # followers never release


# -- run_in_cohort directly ------------------------------------------------------------------


async def test_run_in_cohort_gates_on_the_given_key_only() -> None:
    gate = LocalCohortGate()
    intercept = scheduling(gate=gate)
    log: list[str] = []
    hold = asyncio.Event()
    primer = Tool("a", log, hold=hold)
    primer_task = asyncio.create_task(intercept.run_in_cohort("k1", primer))
    await until_started(primer)
    follower = Tool("b", log)
    follower_task = asyncio.create_task(intercept.run_in_cohort("k1", follower))
    # another key is not held up
    assert await asyncio.wait_for(intercept.run_in_cohort("k2", Tool("c", log)), FAST_S) == (
        "c result"
    )
    await settle()
    assert follower.calls == 0
    hold.set()
    assert list(await asyncio.gather(primer_task, follower_task)) == ["a result", "b result"]
    assert log == ["a start", "c start", "c end", "a end", "b start", "b end"]
    assert len(gate) == 0
