from typing import Any

from adaptive.acg import build_prompt_ir
from adaptive.hot_cache import HotCache
from adaptive.learners.acg import AcgLearner
from adaptive.learners.base import LearnerUpdate
from adaptive.records import CallKind, RunRecord
from adaptive.storage.memory import MemoryBackend
from tests.factories import call, load_sample_state_and_runs, run_with
from tests.parity import IDENTITY_KEYS, strip_keys


def commit(backend: MemoryBackend, update: LearnerUpdate) -> None:
    backend.observations.update(update.changes.observations)
    backend.stability.update(update.changes.stability)


def exported(backend: MemoryBackend) -> dict[str, Any]:
    return {
        **{f"acg_stability:{k}": v.to_wire() for k, v in backend.stability.items()},
        **{
            f"acg_observations:{k}": [strip_keys(ir.to_wire(), IDENTITY_KEYS) for ir in v]
            for k, v in backend.observations.items()
        },
    }


def reference_acg(state: dict[str, Any]) -> dict[str, Any]:
    return {
        k: ([strip_keys(ir, IDENTITY_KEYS) for ir in v] if k.startswith("acg_obs") else v)
        for k, v in state.items()
        if k.startswith("acg_")
    }


def llm_run(request: dict[str, Any]) -> RunRecord:
    return run_with([call(CallKind.LLM, "openai", 0, 10, annotated_request=request)])


def request(system: str, user: str, model: str = "m") -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    }


async def test_sample_runs_reproduce_reference_windows_and_results() -> None:
    state, runs = load_sample_state_and_runs()
    backend = MemoryBackend()
    learner = AcgLearner()
    for start in range(0, len(runs), 9):
        commit(backend, await learner.learn("planner", runs[start : start + 9], backend))
    assert exported(backend) == reference_acg(state)


async def test_two_processes_taking_turns_equal_one_process() -> None:
    state, runs = load_sample_state_and_runs()
    backend = MemoryBackend()
    first, second = AcgLearner(), AcgLearner()
    for index, start in enumerate(range(0, len(runs), 5)):
        learner = first if index % 2 == 0 else second
        commit(backend, await learner.learn("planner", runs[start : start + 5], backend))
    assert exported(backend) == reference_acg(state)


async def test_uncommitted_learning_is_not_reused() -> None:
    state, runs = load_sample_state_and_runs()
    backend = MemoryBackend()
    learner = AcgLearner()
    commit(backend, await learner.learn("planner", runs[:10], backend))
    await learner.learn("planner", runs[10:20], backend)  # the commit of this batch failed
    commit(backend, await learner.learn("planner", runs[10:20], backend))
    commit(backend, await learner.learn("planner", runs[20:], backend))
    assert exported(backend) == reference_acg(state)


async def test_window_is_bounded_and_keeps_newest() -> None:
    backend = MemoryBackend()
    learner = AcgLearner(observation_window=3)
    runs = [llm_run(request("sys", f"q{i}")) for i in range(5)]
    for run in runs:
        commit(backend, await learner.learn("a", [run], backend))
    (key,) = [k for k in backend.observations if k != "a"]
    window = backend.observations[key]
    assert [ir.blocks[-1].content for ir in window] == ["q2", "q3", "q4"]
    assert backend.stability[key].total_observations == 3


async def test_unbuildable_requests_and_runs_without_llm_calls_are_skipped() -> None:
    backend = MemoryBackend()
    learner = AcgLearner()
    bad = llm_run({"messages": "not a list"})
    tools_only = run_with([call(CallKind.TOOL, "search", 0, 5)])
    update = await learner.learn("a", [bad, tools_only], backend)
    assert update.changes.is_empty()


async def test_aggregate_is_best_profile_of_the_last_run() -> None:
    backend = MemoryBackend()
    learner = AcgLearner()
    stable_twice = [llm_run(request("stable system", "same")) for _ in range(2)]
    other = llm_run(request("other system", "x", model="other"))
    update = await learner.learn("a", [*stable_twice, other], backend)
    commit(backend, update)
    # The last run touched only the "other" profile, so it becomes the aggregate
    # even though the first profile has more observations (NeMo Relay's rule).
    assert backend.stability["a"].total_observations == 1
    cache = HotCache()
    update.refresh(cache)
    assert cache.acg_observation_count == 1
    assert len(cache.acg_profiles) == 2
    assert sorted(cache.acg_profile_observation_counts.values()) == [1, 2]


async def test_observations_are_the_prompt_ir_of_each_request() -> None:
    backend = MemoryBackend()
    body = request("be brief", "hello   world")
    update = await AcgLearner().learn("a", [llm_run(body)], backend)
    (observation,) = update.changes.observations["a"]
    expected = build_prompt_ir(body)
    assert [b.to_wire() for b in observation.blocks] == [b.to_wire() for b in expected.blocks]
