"""A small run history with known numbers, stored the way production stores runs.

Five runs of two agents over two days. Four are emitted as ATOF events
through ``AdaptiveRuntime`` (accumulator → drain → ``SqlBackend`` unit of
work, all learners on), so the write path fills every analytics column; the
fifth never ended and is stored directly, since the accumulator only hands
over finished runs. ``tests/test_analytics.py`` computes its expectations
from the tables below by hand.

Times are milliseconds after the run's start. A tool end closes the newest
open call of its name (NeMo Relay's rule), so overlapping calls of one name
are laid out to end newest-first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from adaptive.config import AdaptiveConfig
from adaptive.events.model import Event
from adaptive.records import CallKind, CallRecord, RunRecord
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.protocol import UnitOfWork
from adaptive.storage.sql import SqlBackend
from adaptive.timestamps import from_datetime

MS = 1_000_000
DAY_1 = datetime(2026, 11, 20, tzinfo=UTC)
DAY_2 = DAY_1 + timedelta(days=1)


@dataclass(frozen=True)
class CallSpec:
    kind: CallKind
    name: str
    start_ms: int
    end_ms: int | None
    failed: bool = False
    model: str | None = None
    usage: tuple[int, int, int] | None = None
    """Prompt, completion, total tokens the response reports (``None``: no usage)."""
    question: str = "q"


@dataclass(frozen=True)
class RunSpec:
    agent: str
    started: datetime
    duration_ms: int | None
    calls: list[CallSpec]
    failed: bool = False
    id: UUID = field(default_factory=uuid4)

    @property
    def start_ns(self) -> int:
        return from_datetime(self.started)


def tool(name: str, start: int, end: int | None, *, failed: bool = False) -> CallSpec:
    return CallSpec(CallKind.TOOL, name, start, end, failed)


def llm(
    model: str,
    start: int,
    end: int,
    usage: tuple[int, int, int] | None,
    *,
    question: str,
    failed: bool = False,
) -> CallSpec:
    return CallSpec(CallKind.LLM, "chat", start, end, failed, model, usage, question)


R1 = RunSpec(
    "alpha",
    DAY_1 + timedelta(hours=10),
    1000,
    [
        llm("m-large", 0, 100, (100, 20, 120), question="q1"),
        tool("search", 100, 400),
        tool("fetch", 150, 350),  # overlaps search: cohort fetch|search
        llm("m-large", 400, 600, (200, 40, 240), question="q1"),
        tool("write", 600, 700),
        tool("search", 700, 900),
        tool("fetch", 750, 850),  # fetch|search again in the same run
    ],
)
R2 = RunSpec(
    "alpha",
    DAY_1 + timedelta(hours=10, minutes=30),
    2000,
    [
        tool("search", 0, 500),
        tool("fetch", 10, 510),  # cohort fetch|search
        tool("rank", 20, 220),  # cohort fetch|rank|search
        llm("m-small", 600, 1000, (50, 10, 60), question="urgent", failed=True),
    ],
    failed=True,
)
R3 = RunSpec(
    "alpha",
    DAY_1 + timedelta(hours=11, minutes=15),
    500,
    [
        tool("search", 0, 100, failed=True),
        tool("fetch", 100, 200),  # starts as search ends: no overlap
        llm("m-large", 200, 500, None, question="q2"),
    ],
)
R4 = RunSpec(
    "beta",
    DAY_2 + timedelta(hours=9),
    3000,
    [
        tool("search", 0, 1200),
        tool("search", 500, 1000),  # cohort search|search
        llm("m-small", 1500, 2100, (300, 60, 360), question="beta"),
    ],
)
R5 = RunSpec(
    "alpha",
    DAY_2 + timedelta(hours=9, minutes=30),
    None,
    [tool("fetch", 0, None)],
)
EMITTED = (R1, R2, R3, R4)
ALL_RUNS = (*EMITTED, R5)


def system_prompt(agent: str) -> str:
    return f"You are {agent}, a research assistant."


def _request(agent: str, call: CallSpec) -> dict[str, Any]:
    return {
        "model": call.model,
        "messages": [
            {"role": "system", "content": system_prompt(agent)},
            {"role": "user", "content": call.question},
        ],
    }


def _response(call: CallSpec) -> dict[str, Any]:
    response: dict[str, Any] = {"model": call.model}
    if call.usage is not None:
        prompt, completion, total = call.usage
        response["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": total,
        }
    return response


def _status(failed: bool) -> dict[str, str]:
    return {"otel.status_code": "ERROR" if failed else "OK"}


def events_of(run: RunSpec) -> list[Event]:
    """The run as NeMo Relay's ATOF exporter writes it, in time order (ends before starts)."""
    assert run.duration_ms is not None, "the accumulator only completes runs that end"
    timed: list[tuple[int, int, Event]] = []

    def add(at_ms: int, **fields: Any) -> None:
        is_start = fields["scope_category"] == "start"
        event = Event(kind="scope", timestamp=run.start_ns + at_ms * MS, **fields)
        timed.append((at_ms, 1 if is_start else 0, event))

    add(0, scope_category="start", category="agent", name=run.agent, uuid=run.id)
    for call in run.calls:
        assert call.end_ms is not None
        uuid = uuid4()
        common = {"category": call.kind.value, "name": call.name, "uuid": uuid}
        request = _request(run.agent, call) if call.kind is CallKind.LLM else None
        response = _response(call) if call.kind is CallKind.LLM else None
        add(
            call.start_ms,
            scope_category="start",
            parent_uuid=run.id,
            category_profile=None if request is None else {"annotated_request": request},
            **common,
        )
        add(
            call.end_ms,
            scope_category="end",
            parent_uuid=run.id,
            metadata=_status(call.failed),
            category_profile=None if response is None else {"annotated_response": response},
            **common,
        )
    add(
        run.duration_ms,
        scope_category="end",
        category="agent",
        name=run.agent,
        uuid=run.id,
        metadata=_status(run.failed),
    )
    return [event for _, _, event in sorted(timed, key=lambda item: (item[0], item[1]))]


def open_record(run: RunSpec) -> RunRecord:
    """A run that never ended, as storage receives it."""
    return RunRecord(
        id=run.id,
        agent_id=run.agent,
        started_at=run.start_ns,
        calls=[
            CallRecord(
                kind=call.kind,
                name=call.name,
                started_at=run.start_ns + call.start_ms * MS,
                ended_at=None if call.end_ms is None else run.start_ns + call.end_ms * MS,
            )
            for call in run.calls
        ],
    )


async def store_fixture(url: str) -> None:
    """Emit the finished runs through the runtime, then store the open one."""
    backend = SqlBackend(url)
    async with AdaptiveRuntime(AdaptiveConfig(), backend=backend) as runtime:
        for run in EMITTED:
            for event in events_of(run):
                await runtime.emit(event)
        await runtime.wait_for_idle()

        async def add_open_run(unit: UnitOfWork) -> None:
            assert await unit.add_runs([open_record(R5)])

        await backend.run_unit_of_work(add_open_run)
