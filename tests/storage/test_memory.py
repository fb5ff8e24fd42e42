from uuid import uuid4

import pytest

from adaptive.plan import ExecutionPlan, MetadataEnvelope
from adaptive.records import CallKind
from adaptive.storage.memory import MemoryBackend
from adaptive.storage.protocol import StateChanges, UnitOfWork
from tests.factories import call, run_with


def plan(agent: str) -> ExecutionPlan:
    return ExecutionPlan(
        agent_id=agent, metadata_template=MetadataEnvelope(run_id=uuid4(), agent_id=agent)
    )


async def test_add_runs_deduplicates_within_and_across_units() -> None:
    backend = MemoryBackend()
    first = run_with([call(CallKind.TOOL, "t", 0, 1)])
    second = run_with([])

    async def work(unit: UnitOfWork) -> list[str]:
        fresh = await unit.add_runs([first, first, second])
        return [str(run.id) for run in fresh]

    assert await backend.run_unit_of_work(work) == [str(first.id), str(second.id)]
    assert await backend.run_unit_of_work(work) == []
    assert await backend.list_run_ids("a") == [first.id, second.id]
    loaded = await backend.load_runs("a", [second.id, uuid4(), first.id])
    assert [run.id for run in loaded] == [second.id, first.id]
    assert loaded[1].to_wire() == first.to_wire()


async def test_unit_of_work_is_atomic() -> None:
    backend = MemoryBackend()

    async def failing(unit: UnitOfWork) -> None:
        await unit.add_runs([run_with([])])
        unit.save("a", StateChanges(plans={"a": plan("a")}))
        raise RuntimeError("learner exploded")

    with pytest.raises(RuntimeError):
        await backend.run_unit_of_work(failing)
    assert await backend.list_run_ids("a") == []
    assert await backend.load_plan("a") is None


async def test_saved_state_is_visible_after_commit_only() -> None:
    backend = MemoryBackend()
    seen_inside: list[object] = []

    async def work(unit: UnitOfWork) -> None:
        unit.save("a", StateChanges(plans={"a": plan("a")}))
        seen_inside.append(await unit.load_plan("a"))

    await backend.run_unit_of_work(work)
    assert seen_inside == [None]
    assert await backend.load_plan("a") is not None
    assert await backend.list_agents() == ["a"]


async def test_acg_keys_belong_to_their_agent_only() -> None:
    backend = MemoryBackend()
    for key in ["a", "a::model=x", "ab", "ab::model=y", "b"]:
        backend.observations[key] = []
    assert await backend.list_acg_keys("a") == ["a", "a::model=x"]
