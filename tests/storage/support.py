"""Helpers shared by the storage tests: small state objects and unit-of-work shortcuts."""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from uuid import UUID, uuid4

from sqlalchemy import BigInteger, Insert, column, table

from adaptive.acg import PromptIR, StabilityAnalysisResult
from adaptive.config import AdaptiveConfig
from adaptive.drain import RunAccumulator
from adaptive.events.atof import ReadReport, read_events
from adaptive.events.model import Event
from adaptive.learners import build_learners
from adaptive.plan import ExecutionPlan, MetadataEnvelope, ParallelGroup
from adaptive.records import RunRecord
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.export import export_state
from adaptive.storage.protocol import StateChanges, StorageBackend, UnitOfWork
from adaptive.storage.sql.models import Base
from adaptive.trie import AccumulatorState, TrieEnvelope
from tests.factories import SAMPLE_TRACE


def plan(agent: str, *groups: str) -> ExecutionPlan:
    return ExecutionPlan(
        agent_id=agent,
        parallel_groups=[ParallelGroup(group_id=group, tool_names=[group]) for group in groups],
        metadata_template=MetadataEnvelope(run_id=uuid4(), agent_id=agent),
    )


def observation(text_content: str = "hello") -> PromptIR:
    return PromptIR.model_validate(
        {
            "ir_id": str(uuid4()),
            "blocks": [
                {
                    "span_id": "system-0",
                    "sequence_index": 0,
                    "role": "system",
                    "content": text_content,
                    "content_type": "text",
                    "provenance": "system",
                }
            ],
            "created_at": "2026-11-23T21:07:11.363838517Z",
        }
    )


def stability(observations: int) -> StabilityAnalysisResult:
    return StabilityAnalysisResult(
        scores=[], stable_prefix_length=1, total_observations=observations
    )


async def save(backend: StorageBackend, agent_id: str, changes: StateChanges) -> None:
    async def work(unit: UnitOfWork) -> None:
        unit.save(agent_id, changes)

    await backend.run_unit_of_work(work)


async def add(backend: StorageBackend, runs_to_add: Sequence[RunRecord]) -> list[RunRecord]:
    async def work(unit: UnitOfWork) -> list[RunRecord]:
        return await unit.add_runs(runs_to_add)

    return await backend.run_unit_of_work(work)


def random_text(length: int, alphabet: str = string.ascii_letters + "éß漢字🙂'\"%:_\\*?[]") -> str:
    """Incompressible text, so PostgreSQL cannot squeeze it under the index row limit."""
    return "".join(random.choices(alphabet, k=length))


def sample_runs(agent: str = "planner") -> list[RunRecord]:
    accumulator = RunAccumulator(agent)
    return [
        run
        for event in read_events(SAMPLE_TRACE, ReadReport())
        if (run := accumulator.process(event)) is not None
    ]


async def learn_in_lockstep(
    backends: Sequence[StorageBackend], batches: Sequence[Sequence[RunRecord]]
) -> None:
    """Learn each batch on the first backend; give the very same units to the others."""
    learners = build_learners(AdaptiveConfig(acg={"observation_window": 12}))
    learned: dict[str, StateChanges] = {}
    for batch in batches:

        async def learn(unit: UnitOfWork, batch: Sequence[RunRecord] = batch) -> None:
            learned.clear()
            fresh = await unit.add_runs(batch)
            for agent in dict.fromkeys(run.agent_id for run in fresh):
                runs_of_agent = [run for run in fresh if run.agent_id == agent]
                changes = StateChanges()
                for learner in learners:
                    changes.update((await learner.learn(agent, runs_of_agent, unit)).changes)
                unit.save(agent, changes)
                learned[agent] = changes

        async def replay(unit: UnitOfWork, batch: Sequence[RunRecord] = batch) -> None:
            await unit.add_runs(batch)
            for agent, changes in learned.items():
                unit.save(agent, changes)

        await backends[0].run_unit_of_work(learn)
        for other in backends[1:]:
            await other.run_unit_of_work(replay)


def detailed_run(agent: str = "a") -> RunRecord:
    return RunRecord.model_validate(
        {
            "id": str(uuid4()),
            "agent_id": agent,
            "started_at": "2026-11-23T21:07:11.363838517Z",
            "ended_at": "2026-11-23T21:07:12.000000001Z",
            "from_the_future": {"nested": [1, 2.5, None, "x"]},
            "calls": [
                {
                    "kind": "llm",
                    "name": "openai",
                    "started_at": "2026-11-23T21:07:11.4Z",
                    "ended_at": "2026-11-23T21:07:11.900000100Z",
                    "metadata_snapshot": {
                        "run_id": str(uuid4()),
                        "agent_id": agent,
                        "parallel_hints": [
                            {"tool_name": "search", "group_id": "g", "explicit": False}
                        ],
                        "extensions": {"k": [1, {"v": True}]},
                        "unknown_envelope_field": 7,
                    },
                    "output_tokens": 44,
                    "prompt_tokens": 94,
                    "total_tokens": 138,
                    "model_name": "gpt-x",
                    "tool_call_count": 0,
                    "annotated_request": {"messages": [{"role": "user", "content": "hi"}]},
                    "annotated_response": {"model": "gpt-x", "big": 2**62, "f": 0.1},
                    "call_field_from_the_future": "kept",
                },
                {"kind": "tool", "name": "search", "started_at": "2026-11-23T21:07:11.5Z"},
                {
                    "kind": "tool",
                    "name": "fetch",
                    "started_at": "2026-11-23T21:07:11.5Z",
                    "ended_at": "2026-11-23T21:07:11.5Z",
                },
            ],
        }
    )


def sample_state_as_a_unit(sample: dict[str, Any]) -> tuple[list[RunRecord], StateChanges]:
    """NeMo Relay's sample state as the runs and the state changes of one unit of work."""
    index = [UUID(run_id) for run_id in sample["runs_index:planner"]]
    records = [RunRecord.model_validate(sample[f"runs:planner:{run_id}"]) for run_id in index]
    changes = StateChanges(
        plans={"planner": ExecutionPlan.model_validate(sample["plan:planner"])},
        tries={"planner": TrieEnvelope.model_validate(sample["trie:planner"])},
        accumulators={"planner": AccumulatorState.from_wire(sample["accumulators:planner"])},
    )
    for key, value in sample.items():
        if key.startswith("acg_observations:"):
            window = [PromptIR.model_validate(ir) for ir in value]
            changes.observations[key.removeprefix("acg_observations:")] = window
        elif key.startswith("acg_stability:"):
            result = StabilityAnalysisResult.model_validate(value)
            changes.stability[key.removeprefix("acg_stability:")] = result
    return records, changes


async def store_unit(
    backend: StorageBackend, agent_id: str, records: list[RunRecord], changes: StateChanges
) -> None:
    """One unit that adds ``records`` (all new) and saves ``changes``."""

    async def work(unit: UnitOfWork) -> None:
        assert await unit.add_runs(records) == records
        unit.save(agent_id, changes)

    await backend.run_unit_of_work(work)


B = TypeVar("B", bound=StorageBackend)


@asynccontextmanager
async def opened(backend: B) -> AsyncIterator[B]:
    """The backend, opened for the block and closed after it."""
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


def without_fresh_ids(state: dict[str, Any]) -> dict[str, Any]:
    """Drop what each learning run mints anew: IR ids, IR and trie timestamps."""
    for key, value in state.items():
        if key.startswith("acg_observations:"):
            for ir in value:
                del ir["ir_id"], ir["created_at"]
        elif key.startswith("trie:"):
            del value["generated_at"]
    return state


async def learned_from(events: Sequence[Event], backend: StorageBackend) -> dict[str, Any]:
    runtime = AdaptiveRuntime(AdaptiveConfig(agent_id="planner"), backend=backend)
    async with runtime:
        for event in events:
            await runtime.emit(event)
        await runtime.wait_for_idle()
        return await export_state(runtime.backend)


def sample_events() -> list[Event]:
    return list(read_events(SAMPLE_TRACE, ReadReport()))


def truncated(delta: int, unit: int) -> int:
    """``delta / unit`` rounded toward zero, as storage rounds durations (written out here)."""
    quotient = abs(delta) // unit
    return quotient if delta >= 0 else -quotient


def with_millisecond_durations(row: dict[str, Any]) -> dict[str, Any]:
    """A ``runs`` or ``calls`` row as revisions 0001 and 0002 stored it: ``duration_ms``.

    Whole milliseconds from the nanosecond timestamps, truncated toward zero,
    in place of the ``duration_us`` that the write path now gives.
    """
    legacy = {name: value for name, value in row.items() if name != "duration_us"}
    ended = row["ended_at_ns"]
    legacy["duration_ms"] = (
        None if ended is None else truncated(ended - row["started_at_ns"], 10**6)
    )
    return legacy


def insert_as_stored(table_name: str, rows: Sequence[dict[str, Any]]) -> Insert:
    """``INSERT`` of rows whose columns may be an older revision's, typed like today's.

    The model's tables would refuse a column they no longer have; this one
    is made of exactly the rows' columns.
    """
    current = Base.metadata.tables[table_name].c
    columns = [
        column(name, current[name].type if name in current else BigInteger()) for name in rows[0]
    ]
    return table(table_name, *columns).insert()
