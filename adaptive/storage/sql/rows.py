"""``RunRecord`` ↔ rows of ``runs`` and ``calls``, losing nothing on the way back.

A record reads back with the same wire JSON it was written with: optional
fields that were omitted stay omitted (they are SQL ``NULL``), timestamps
keep their nanoseconds (the ``*_ns`` columns; the timestamp columns are for
SQL), and fields a newer NeMo Relay added live in the ``extra`` column.

Some columns are derived for analytics only and never read back: durations
(whole microseconds, from the nanosecond timestamps), call counts, and each
tool call's parallel cohort (``cohort_columns``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from uuid import UUID

from sqlalchemy import Row

from adaptive.learners.tool_parallelism import cohort_observations
from adaptive.records import CallKind, CallRecord, RunRecord
from adaptive.storage.sql.models import COHORT_SEPARATOR, digest_key, text_digest, text_key
from adaptive.timestamps import to_datetime, whole_micros_between

JsonObject = dict[str, Any]

_OPTIONAL_CALL_COLUMNS: Final = tuple(
    name
    for name in CallRecord.model_fields
    if name in CallRecord.omit_when_none and name != "ended_at"
)
"""Nullable call columns that map one-to-one to optional ``CallRecord`` fields, in wire order."""


def run_row(run: RunRecord, agent_digest: bytes) -> JsonObject:
    """The ``runs`` row of a record (without ``seq``, which storage assigns)."""
    calls = run.calls
    llm_calls = sum(1 for call in calls if call.kind is CallKind.LLM)
    ended_at = run.ended_at
    return {
        "id": run.id,
        "agent_digest": agent_digest,
        "agent_id": run.agent_id,
        "started_at": to_datetime(run.started_at),
        "started_at_ns": run.started_at,
        "ended_at": None if ended_at is None else to_datetime(ended_at),
        "ended_at_ns": ended_at,
        "duration_us": None if ended_at is None else whole_micros_between(run.started_at, ended_at),
        "call_count": len(calls),
        "llm_call_count": llm_calls,
        "tool_call_count": len(calls) - llm_calls,
        "status": "open" if ended_at is None else "completed",
        "extra": run.__pydantic_extra__ or None,
        "end_status": run.status,
        "agent_key": digest_key(agent_digest),
    }


def call_rows(run: RunRecord, agent_digest: bytes) -> list[JsonObject]:
    """The ``calls`` rows of a record, one per call, in call order."""
    agent_key = digest_key(agent_digest)
    rows = [
        _call_row(run, position, call, agent_digest, agent_key)
        for position, call in enumerate(run.calls)
    ]
    for position, columns in cohort_columns(run.calls).items():
        rows[position].update(columns)
    return rows


NO_COHORT: Final = {"cohort_tools": None, "cohort_key": None, "cohort_width": None}
"""The cohort columns of a call that overlapped no other tool call (with ``fanout_width``)."""


def cohort_columns(calls: Sequence[CallRecord]) -> dict[int, JsonObject]:
    """The parallel cohorts each call took part in, as the learner sees them (DESIGN §5.1).

    Keyed by position, for the calls that overlapped another tool call only.
    ``cohort_*``: the cohort the call's start formed with the tool calls still
    running (one sweep step; the distinct ones of a run are exactly what the
    tool-parallelism learner merges into the plan), or ``None`` for the call
    that was already running. ``fanout_width``: the widest cohort the call
    was a member of, so "ran in parallel" is ``fanout_width IS NOT NULL``.
    Stored once at write time, these make fan-out and parallel-share
    analytics plain ``GROUP BY`` queries.
    """
    columns: dict[int, JsonObject] = {}
    for observation in cohort_observations(calls):
        width = len(observation.members)
        tools = COHORT_SEPARATOR.join(observation.tool_names)
        for member in observation.members:
            entry = columns.setdefault(member, {**NO_COHORT, "fanout_width": width})
            entry["fanout_width"] = max(entry["fanout_width"], width)
        columns[observation.starter].update(
            cohort_tools=tools, cohort_key=text_key(tools), cohort_width=width
        )
    return columns


def _call_row(
    run: RunRecord, position: int, call: CallRecord, agent_digest: bytes, agent_key: int
) -> JsonObject:
    ended_at = call.ended_at
    model_name = call.model_name
    model_digest = None if model_name is None else text_digest(model_name)
    name_digest = text_digest(call.name)
    snapshot = call.metadata_snapshot
    return {
        "run_id": run.id,
        "position": position,
        "agent_digest": agent_digest,
        "agent_id": run.agent_id,
        "kind": call.kind.value,
        "name": call.name,
        "name_digest": name_digest,
        "started_at": to_datetime(call.started_at),
        "started_at_ns": call.started_at,
        "ended_at": None if ended_at is None else to_datetime(ended_at),
        "ended_at_ns": ended_at,
        "duration_us": None
        if ended_at is None
        else whole_micros_between(call.started_at, ended_at),
        "model_name": model_name,
        "model_digest": model_digest,
        "prompt_tokens": call.prompt_tokens,
        "output_tokens": call.output_tokens,
        "total_tokens": call.total_tokens,
        "tool_call_count": call.tool_call_count,
        "metadata_snapshot": None if snapshot is None else snapshot.to_wire(),
        "annotated_request": call.annotated_request,
        "annotated_response": call.annotated_response,
        "extra": call.__pydantic_extra__ or None,
        "status": call.status,
        "agent_key": agent_key,
        "name_key": digest_key(name_digest),
        "model_key": None if model_digest is None else digest_key(model_digest),
        "fanout_width": None,
        **NO_COHORT,
    }


def run_from_rows(run: Row[Any], calls: Iterable[Row[Any]]) -> RunRecord:
    """Rebuild a record from its ``runs`` row and its ``calls`` rows (in position order)."""
    wire: JsonObject = {
        "id": run.id,
        "agent_id": run.agent_id,
        "calls": [_call_wire(call) for call in calls],
        "started_at": run.started_at_ns,
    }
    if run.ended_at_ns is not None:
        wire["ended_at"] = run.ended_at_ns
    if run.end_status is not None:
        wire["status"] = run.end_status
    return RunRecord.model_validate(_with_extra(wire, run.extra))


def _call_wire(call: Row[Any]) -> JsonObject:
    mapping = call._mapping
    wire: JsonObject = {"kind": call.kind, "name": call.name, "started_at": call.started_at_ns}
    if call.ended_at_ns is not None:
        wire["ended_at"] = call.ended_at_ns
    for column in _OPTIONAL_CALL_COLUMNS:
        value = mapping[column]
        if value is not None:
            wire[column] = value
    return _with_extra(wire, call.extra)


def _with_extra(wire: JsonObject, extra: Mapping[str, Any] | None) -> JsonObject:
    if extra:
        wire.update(extra)
    return wire


def group_calls_by_run(rows: Sequence[Row[Any]]) -> dict[UUID, list[Row[Any]]]:
    """Call rows (already in run, position order) grouped under their run id."""
    grouped: dict[UUID, list[Row[Any]]] = {}
    for row in rows:
        grouped.setdefault(row.run_id, []).append(row)
    return grouped
