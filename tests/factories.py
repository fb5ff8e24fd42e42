"""Builders for ATOF events and records used across the tests."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from adaptive.events.model import Event
from adaptive.records import CallKind, CallRecord, RunRecord

SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "nemo_relay_0_10_4"
"""The NeMo Relay 0.10.4 reference sample, shipped with the tests (see its README)."""
SAMPLE_TRACE = SAMPLE_DIR / "trace.jsonl"
SAMPLE_STATE = SAMPLE_DIR / "state.json"

MS = 1_000_000  # nanoseconds per millisecond
T0 = 1_795_468_443_000_000_000  # 2026-11-23T21:14:03Z


def load_sample_state() -> dict[str, Any]:
    state: dict[str, Any] = json.loads(SAMPLE_STATE.read_text())["state"]
    return state


def load_sample_state_and_runs() -> tuple[dict[str, Any], list[RunRecord]]:
    """The reference state and its runs, in the order NeMo Relay learned from them."""
    state = load_sample_state()
    runs = [
        RunRecord.model_validate(state[f"runs:planner:{run_id}"])
        for run_id in state["runs_index:planner"]
    ]
    return state, runs


class Trace:
    """Writes scope events the way NeMo Relay's ATOF exporter does."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._clock = itertools.count(T0, MS)

    def scope(
        self,
        category: str,
        phase: str,
        name: str,
        uuid: UUID,
        parent: UUID | None,
        *,
        at: int | None = None,
        profile: dict[str, Any] | None = None,
    ) -> Event:
        event = Event(
            kind="scope",
            scope_category=phase,
            category=category,
            name=name,
            uuid=uuid,
            parent_uuid=parent,
            timestamp=at if at is not None else next(self._clock),
            category_profile=profile,
        )
        self.events.append(event)
        return event

    def start(self, category: str, name: str, parent: UUID | None, **kw: Any) -> UUID:
        uuid = uuid4()
        self.scope(category, "start", name, uuid, parent, **kw)
        return uuid

    def end(self, category: str, name: str, uuid: UUID, parent: UUID | None, **kw: Any) -> None:
        self.scope(category, "end", name, uuid, parent, **kw)


def call(kind: CallKind, name: str, start_ms: int, end_ms: int | None, **fields: Any) -> CallRecord:
    return CallRecord(
        kind=kind,
        name=name,
        started_at=T0 + start_ms * MS,
        ended_at=None if end_ms is None else T0 + end_ms * MS,
        **fields,
    )


def run_with(calls: list[CallRecord], *, end_ms: int | None = 1_000, agent: str = "a") -> RunRecord:
    return RunRecord(
        id=uuid4(),
        agent_id=agent,
        calls=calls,
        started_at=T0,
        ended_at=None if end_ms is None else T0 + end_ms * MS,
    )
