from uuid import uuid4

from adaptive.learners.tool_parallelism import (
    ToolParallelismLearner,
    empty_plan,
    group_id_for,
    merge_cohorts,
    observed_cohorts,
)
from adaptive.records import CallKind
from adaptive.storage.memory import MemoryBackend
from tests.factories import call, load_sample_state, run_with

TOOL, LLM = CallKind.TOOL, CallKind.LLM


def test_group_id_matches_nemo_relay() -> None:
    # fanout:sha256:98257 groups fetch+search in the sample written by NeMo Relay 0.10.4.
    assert group_id_for(["fetch", "search"]) == "fanout:sha256:98257"
    assert group_id_for(["fetch", "rank", "search"]) == "fanout:sha256:613d7"


def test_overlapping_spans_form_a_cohort() -> None:
    run = run_with([call(TOOL, "search", 0, 10), call(TOOL, "fetch", 5, 15)])
    assert observed_cohorts(run) == [("fetch", "search")]


def test_touching_spans_do_not_overlap() -> None:
    run = run_with([call(TOOL, "search", 0, 10), call(TOOL, "fetch", 10, 15)])
    assert observed_cohorts(run) == []


def test_three_way_overlap_records_each_growing_cohort_once() -> None:
    run = run_with(
        [
            call(TOOL, "c", 2, 20),
            call(TOOL, "a", 0, 20),
            call(TOOL, "b", 1, 20),
            call(TOOL, "a", 30, 40),
            call(TOOL, "b", 31, 40),
        ]
    )
    # sorted by start: a(0) b(1) c(2): cohort [a,b] then [a,b,c]; later a,b again (dedup).
    assert observed_cohorts(run) == [("a", "b"), ("a", "b", "c")]


def test_unfinished_tools_and_llm_calls_are_ignored() -> None:
    run = run_with(
        [call(TOOL, "search", 0, None), call(TOOL, "fetch", 1, 5), call(LLM, "openai", 2, 9)]
    )
    assert observed_cohorts(run) == []


def test_same_tool_twice_in_parallel() -> None:
    run = run_with([call(TOOL, "search", 0, 10), call(TOOL, "search", 1, 10)])
    assert observed_cohorts(run) == [("search", "search")]
    plan = merge_cohorts(empty_plan("a", uuid4()), observed_cohorts(run), uuid4())
    assert [h.tool_name for h in plan.metadata_template.parallel_hints] == ["search"]


def test_merge_keeps_old_groups_sorts_and_points_at_last_run() -> None:
    first_run, second_run = uuid4(), uuid4()
    plan = merge_cohorts(empty_plan("a", first_run), [("rank", "search")], first_run)
    plan = merge_cohorts(plan, [("fetch", "search")], second_run)
    assert [g.group_id for g in plan.parallel_groups] == sorted(
        [group_id_for(["rank", "search"]), group_id_for(["fetch", "search"])]
    )
    keys = [(h.tool_name, h.group_id) for h in plan.metadata_template.parallel_hints]
    assert keys == sorted(keys) and len(keys) == 4
    assert not any(h.explicit for h in plan.metadata_template.parallel_hints)
    assert plan.metadata_template.run_id == second_run


async def test_learner_writes_nothing_for_runs_without_fanout() -> None:
    backend = MemoryBackend()
    update = await ToolParallelismLearner().learn(
        "a", [run_with([call(TOOL, "search", 0, 10)])], backend
    )
    assert update.changes.is_empty()


async def test_learner_over_sample_runs_reproduces_sample_plan() -> None:
    state = load_sample_state()
    from adaptive.records import RunRecord

    runs = [
        RunRecord.model_validate(state[f"runs:planner:{run_id}"])
        for run_id in state["runs_index:planner"]
    ]
    backend = MemoryBackend()
    update = await ToolParallelismLearner().learn("planner", runs, backend)
    assert update.changes.plans["planner"].to_wire() == state["plan:planner"]
