"""Run and call records: what the drain assembles and storage keeps."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from adaptive.plan import MetadataEnvelope
from adaptive.timestamps import Timestamp
from adaptive.wire import WireModel

JsonObject = dict[str, Any]

STATUS_ERROR = "error"
"""The ``status`` of a call or run whose end event reported ``otel.status_code: ERROR``.

Success is left unset: NeMo Relay's records carry no status, and the JSON
written for a successful run must stay exactly what NeMo Relay writes.
``status`` is a plain string, not an enum, so a value some other writer
(or a newer NeMo Relay) stores still loads.
"""


class CallKind(StrEnum):
    """Kind of call captured inside a run."""

    LLM = "llm"
    TOOL = "tool"


class CallRecord(WireModel):
    """One tool or LLM call observed in a run."""

    omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {
            "ended_at",
            "metadata_snapshot",
            "output_tokens",
            "prompt_tokens",
            "total_tokens",
            "model_name",
            "tool_call_count",
            "annotated_request",
            "annotated_response",
            "status",
        }
    )

    kind: CallKind
    name: str
    started_at: Timestamp
    ended_at: Timestamp | None = None
    metadata_snapshot: MetadataEnvelope | None = None
    output_tokens: int | None = None
    prompt_tokens: int | None = None
    total_tokens: int | None = None
    model_name: str | None = None
    tool_call_count: int | None = None
    annotated_request: JsonObject | None = None
    annotated_response: JsonObject | None = None
    status: str | None = None
    """``"error"`` when the call's end event reported a failure; unset otherwise."""


class RunRecord(WireModel):
    """One agent run: the calls between an agent scope's start and end."""

    omit_when_none: ClassVar[frozenset[str]] = frozenset({"ended_at", "status"})

    id: UUID
    agent_id: str
    calls: list[CallRecord]
    started_at: Timestamp
    ended_at: Timestamp | None = None
    status: str | None = None
    """``"error"`` when the agent scope's end event reported a failure; unset otherwise."""
