from adaptive.hot_cache import HotCache
from adaptive.learners.latency_sensitivity import LatencySensitivityLearner
from adaptive.records import CallKind, RunRecord
from adaptive.storage.memory import MemoryBackend
from adaptive.trie import AccumulatorState
from tests.factories import call, load_sample_state_and_runs, run_with
from tests.parity import assert_json_close


async def learn_in_batches(runs: list[RunRecord], size: int) -> MemoryBackend:
    backend = MemoryBackend()
    learner = LatencySensitivityLearner()
    for start in range(0, len(runs), size):
        update = await learner.learn("planner", runs[start : start + size], backend)
        backend.accumulators.update(update.changes.accumulators)
        backend.tries.update(update.changes.tries)
    return backend


async def test_batches_of_any_size_give_the_reference_state() -> None:
    state, runs = load_sample_state_and_runs()
    for size in (1, 7, 40):
        backend = await learn_in_batches(runs, size)
        assert_json_close(backend.accumulators["planner"].to_wire(), state["accumulators:planner"])
        assert_json_close(backend.tries["planner"].to_wire()["root"], state["trie:planner"]["root"])


async def test_learning_never_mutates_loaded_state() -> None:
    _, runs = load_sample_state_and_runs()
    backend = await learn_in_batches(runs[:20], 20)
    loaded = backend.accumulators["planner"]
    before = loaded.to_wire()
    await LatencySensitivityLearner().learn("planner", runs[20:], backend)
    assert loaded.to_wire() == before


async def test_resuming_from_serialized_state_equals_one_pass() -> None:
    state, runs = load_sample_state_and_runs()
    backend = await learn_in_batches(runs[:25], 25)
    reloaded = MemoryBackend()
    reloaded.accumulators["planner"] = AccumulatorState.from_wire(
        backend.accumulators["planner"].to_wire()
    )
    update = await LatencySensitivityLearner().learn("planner", runs[25:], reloaded)
    assert_json_close(
        update.changes.accumulators["planner"].to_wire(), state["accumulators:planner"]
    )


async def test_refresh_sets_trie_and_default_hints() -> None:
    _, runs = load_sample_state_and_runs()
    update = await LatencySensitivityLearner().learn("planner", runs, MemoryBackend())
    cache = HotCache()
    update.refresh(cache)
    assert cache.trie is not None and cache.agent_hints_default is not None
    root = cache.trie.predictions_any_index
    assert root is not None
    # DESIGN §5.2: osl = round(p90 output tokens), total_requests = round(mean remaining) + 1.
    assert cache.agent_hints_default.osl == 184  # p90 183.8 in the reference trie
    assert cache.agent_hints_default.total_requests == 2  # mean remaining 0.79
    assert cache.agent_hints_default.prefix_id == "default"


async def test_runs_without_llm_calls_store_an_empty_trie() -> None:
    run = run_with([call(CallKind.TOOL, "search", 0, 10)])
    update = await LatencySensitivityLearner().learn("a", [run], MemoryBackend())
    envelope = update.changes.tries["a"]
    assert envelope.root.predictions_any_index is None
    assert envelope.workflow_name == "a"
    cache = HotCache()
    update.refresh(cache)
    assert cache.agent_hints_default is None
