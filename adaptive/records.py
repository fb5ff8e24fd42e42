"""Run and call records: what the drain assembles and storage keeps."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from adaptive.plan import MetadataEnvelope
from adaptive.timestamps import Timestamp
from adaptive.wire import WireModel

JsonObject = dict[str, Any]


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


class RunRecord(WireModel):
    """One agent run: the calls between an agent scope's start and end."""

    omit_when_none: ClassVar[frozenset[str]] = frozenset({"ended_at"})

    id: UUID
    agent_id: str
    calls: list[CallRecord]
    started_at: Timestamp
    ended_at: Timestamp | None = None
