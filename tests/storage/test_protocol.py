"""The storage protocol, as every backend must satisfy it: memory, SQLite, PostgreSQL, Redis
(one server, and a three-node Redis Cluster)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from adaptive.acg import PromptIR, StabilityAnalysisResult
from adaptive.config import BackendSpec
from adaptive.plan import ExecutionPlan
from adaptive.records import CallKind
from adaptive.storage.export import export_state
from adaptive.storage.factory import create_backend
from adaptive.storage.memory import MemoryBackend
from adaptive.storage.protocol import StateChanges, StorageBackend, UnitOfWork
from adaptive.trie import AccumulatorState, TrieEnvelope
from tests.factories import call, load_sample_state, run_with
from tests.storage.support import (
    add,
    detailed_run,
    learn_in_lockstep,
    observation,
    plan,
    random_text,
    sample_runs,
    sample_state_as_a_unit,
    save,
    stability,
    store_unit,
)

BACKENDS = ["memory", "sqlite", "postgresql", "redis", "redis-cluster"]


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest) -> str:
    """A URL of each kind, naming storage of this test's own (removed afterwards)."""
    if request.param == "memory":
        return "memory://"
    fixture = {
        "sqlite": "sqlite_url",
        "postgresql": "fresh_postgres_url",
        "redis": "redis_url",
        "redis-cluster": "redis_cluster_url",
    }
    url: str = request.getfixturevalue(fixture[request.param])
    return url


@pytest.fixture
async def backend(backend_url: str) -> AsyncIterator[StorageBackend]:
    opened = create_backend(BackendSpec.from_url(backend_url))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_add_runs_deduplicates_within_and_across_units(backend: StorageBackend) -> None:
    first = run_with([call(CallKind.TOOL, "t", 0, 1)])
    second = run_with([])

    async def work(unit: UnitOfWork) -> list[str]:
        fresh = await unit.add_runs([first, first, second])
        again = await unit.add_runs([second])
        assert again == []
        return [str(run.id) for run in fresh]

    assert await backend.run_unit_of_work(work) == [str(first.id), str(second.id)]
    assert await backend.run_unit_of_work(work) == []
    assert await backend.list_run_ids("a") == [first.id, second.id]
    loaded = await backend.load_runs("a", [second.id, uuid4(), first.id])
    assert [run.id for run in loaded] == [second.id, first.id]
    assert loaded[1].to_wire() == first.to_wire()


async def test_add_runs_returns_only_new_runs_in_input_order(backend: StorageBackend) -> None:
    old, new_a, new_b = run_with([]), run_with([]), run_with([], agent="b")
    await add(backend, [old])
    assert await add(backend, [new_b, old, new_a]) == [new_b, new_a]
    assert await backend.list_run_ids("a") == [old.id, new_a.id]
    assert await backend.list_run_ids("b") == [new_b.id]
    assert await backend.load_runs("b", [old.id]) == []  # another agent's run


async def test_a_run_is_one_run_per_agent(backend: StorageBackend) -> None:
    """The same run id stored for two agents is two runs (NeMo Relay's runs:{agent}:{id})."""
    first = run_with([call(CallKind.TOOL, "search", 0, 5)])
    again = first.model_copy(update={"agent_id": "b"}, deep=True)
    assert await add(backend, [first]) == [first]
    assert await add(backend, [again, first]) == [again]  # new for b, already stored for a
    assert await add(backend, [again]) == []
    for agent in ("a", "b"):
        assert await backend.list_run_ids(agent) == [first.id]
        (stored,) = await backend.load_runs(agent, [first.id])
        assert stored.agent_id == agent and [c.name for c in stored.calls] == ["search"]


async def test_a_unit_adds_the_same_run_id_for_two_agents(backend: StorageBackend) -> None:
    first = run_with([call(CallKind.TOOL, "search", 0, 5)])
    again = first.model_copy(update={"agent_id": "b"}, deep=True)
    assert await add(backend, [first, again]) == [first, again]
    assert await backend.list_run_ids("b") == [first.id]


async def test_unit_of_work_is_atomic(backend: StorageBackend) -> None:
    class LearnerExploded(RuntimeError):
        pass

    async def failing(unit: UnitOfWork) -> None:
        await unit.add_runs([run_with([call(CallKind.TOOL, "t", 0, 1)])])
        await unit.load_plan("a")
        unit.save("a", StateChanges(plans={"a": plan("a", "g")}))
        raise LearnerExploded("learner exploded")

    with pytest.raises(LearnerExploded):
        await backend.run_unit_of_work(failing)
    assert await backend.list_run_ids("a") == []
    assert await backend.load_plan("a") is None
    assert await backend.list_agents() == []


async def test_saved_state_is_visible_after_commit_only(backend: StorageBackend) -> None:
    seen_inside: list[object] = []

    async def work(unit: UnitOfWork) -> None:
        unit.save("a", StateChanges(plans={"a": plan("a")}))
        seen_inside.append(await unit.load_plan("a"))

    await backend.run_unit_of_work(work)
    assert seen_inside == [None]
    assert await backend.load_plan("a") is not None
    assert await backend.list_agents() == ["a"]


async def test_acg_keys_belong_to_their_agent_only(backend: StorageBackend) -> None:
    for agent, keys in {"a": ["a", "a::model=x"], "ab": ["ab::model=y"], "b": ["b"]}.items():
        await save(
            backend,
            agent,
            StateChanges(
                observations={key: [observation()] for key in keys},
                stability={keys[0]: stability(1)},
            ),
        )
    assert await backend.list_acg_keys("a") == ["a", "a::model=x"]
    assert await backend.list_acg_keys("ab") == ["ab::model=y"]
    assert await backend.list_acg_keys("c") == []


async def test_every_state_kind_round_trips(backend: StorageBackend) -> None:
    sample = load_sample_state()
    accumulators = AccumulatorState.from_wire(sample["accumulators:planner"])
    trie = TrieEnvelope.model_validate(sample["trie:planner"])
    execution_plan = ExecutionPlan.model_validate(sample["plan:planner"])
    window = [PromptIR.model_validate(ir) for ir in sample["acg_observations:planner"]]
    result = StabilityAnalysisResult.model_validate(sample["acg_stability:planner"])
    await save(
        backend,
        "planner",
        StateChanges(
            plans={"planner": execution_plan},
            tries={"planner": trie},
            accumulators={"planner": accumulators},
            observations={"planner": window},
            stability={"planner": result},
        ),
    )
    assert (await backend.load_plan("planner")) == execution_plan
    loaded_trie = await backend.load_trie("planner")
    assert loaded_trie is not None and loaded_trie.to_wire() == sample["trie:planner"]
    loaded = await backend.load_accumulators("planner")
    assert loaded is not None and loaded.to_wire() == sample["accumulators:planner"]
    loaded_window = await backend.load_observations("planner")
    assert [ir.to_wire() for ir in loaded_window or []] == sample["acg_observations:planner"]
    assert (await backend.load_stability("planner")) == result
    assert await backend.load_plan("nobody") is None
    assert await backend.load_observations("nobody") is None
    assert await backend.load_stability("nobody") is None


async def test_nemo_relay_sample_state_exports_unchanged(backend: StorageBackend) -> None:
    """Everything NeMo Relay 0.10.4 wrote reads back as the same JSON (runs included)."""
    sample = load_sample_state()
    records, changes = sample_state_as_a_unit(sample)
    await store_unit(backend, "planner", records, changes)
    assert await export_state(backend) == sample


async def test_export_equals_memory_backend_fed_the_same_units(backend: StorageBackend) -> None:
    runs_a = sample_runs("planner")
    runs_b = [run.model_copy(update={"id": uuid4(), "agent_id": "helper:'%\""}) for run in runs_a]
    mixed = [run for pair in zip(runs_a, runs_b, strict=True) for run in pair]
    batches = [mixed[start : start + 7] for start in range(0, len(mixed), 7)]
    batches.insert(3, batches[1])  # a re-ingested batch stores and learns nothing
    memory = MemoryBackend()
    await learn_in_lockstep([memory, backend], batches)
    expected = await export_state(memory)
    assert await export_state(backend) == expected
    assert await export_state(backend, "planner") == await export_state(memory, "planner")
    windows = [key for key in expected if key.startswith("acg_observations:")]
    assert windows and all(len(expected[key]) <= 12 for key in windows)


async def test_run_records_round_trip_exactly(backend: StorageBackend) -> None:
    detailed = detailed_run()
    open_run = run_with([call(CallKind.TOOL, "t", 0, None)], end_ms=None)
    bare = run_with([])
    await add(backend, [detailed, open_run, bare])
    loaded = await backend.load_runs("a", [detailed.id, open_run.id, bare.id])
    assert [run.to_wire() for run in loaded] == [
        detailed.to_wire(),
        open_run.to_wire(),
        bare.to_wire(),
    ]
    loaded_open = loaded[1].to_wire()
    assert "ended_at" not in loaded_open and "ended_at" not in loaded_open["calls"][0]
    assert set(loaded[0].to_wire()["calls"][1]) == {"kind", "name", "started_at"}
    assert loaded[0].to_wire()["calls"][0]["call_field_from_the_future"] == "kept"


async def test_awkward_and_huge_identifiers(backend: StorageBackend) -> None:
    agents = [
        'quote\'d "agent"',
        "colons::model=x:%_%\\",
        "ünïcødé 漢字 🙂",
        random_text(10_000),
    ]
    for agent in agents:
        tool = random_text(10_000) if len(agent) > 100 else f"tool {agent}"
        run = run_with([call(CallKind.TOOL, tool, 0, 5)], agent=agent)
        await add(backend, [run])
        key = f"{agent}::model={random_text(3_000)}::seed=stable-scaffold"
        window = [observation(random_text(5_000))]
        agent_plan = plan(agent, tool)
        await save(
            backend,
            agent,
            StateChanges(
                plans={agent: agent_plan},
                observations={key: window, agent: window},
                stability={key: stability(1)},
            ),
        )
        assert await backend.list_run_ids(agent) == [run.id]
        assert (await backend.load_runs(agent, [run.id]))[0].to_wire() == run.to_wire()
        assert await backend.load_plan(agent) == agent_plan
        assert await backend.list_acg_keys(agent) == sorted([agent, key])
        assert await backend.load_observations(key) == window
        assert await backend.load_stability(key) == stability(1)
    assert await backend.list_agents() == sorted(agents)
    assert await backend.list_run_ids("quote'd") == []


async def test_ten_megabyte_annotated_request_is_stored(backend: StorageBackend) -> None:
    request = {"messages": [{"role": "user", "content": random_text(10 * 1024 * 1024)}]}
    big = run_with([call(CallKind.LLM, "openai", 0, 10, annotated_request=request)])
    small = run_with([call(CallKind.TOOL, "t", 0, 1)])
    assert await add(backend, [big, small]) == [big, small]
    loaded = await backend.load_runs("a", [big.id, small.id])
    assert [run.to_wire() for run in loaded] == [big.to_wire(), small.to_wire()]
