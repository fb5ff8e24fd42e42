"""ATOF 0.1 events: the scope stream NeMo Relay emits for every agent run."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from adaptive.timestamps import Timestamp

JsonObject = dict[str, Any]


class EventKind(StrEnum):
    """Top-level kinds of ATOF records."""

    SCOPE = "scope"
    MARK = "mark"


class ScopeCategory(StrEnum):
    """Whether a scope event opens or closes its scope."""

    START = "start"
    END = "end"


class ScopeType(StrEnum):
    """The scope types NeMo Relay defines (ATOF ``category``)."""

    AGENT = "agent"
    FUNCTION = "function"
    TOOL = "tool"
    LLM = "llm"
    RETRIEVER = "retriever"
    EMBEDDER = "embedder"
    RERANKER = "reranker"
    GUARDRAIL = "guardrail"
    EVALUATOR = "evaluator"
    CUSTOM = "custom"
    UNKNOWN = "unknown"


class Event(BaseModel):
    """One ATOF event.

    ``category`` stays a plain string: a scope type that a newer NeMo Relay adds
    is still a nested scope for run assembly, so rejecting it would orphan the
    calls inside it. Unknown fields are kept as extra attributes.
    """

    model_config = ConfigDict(extra="allow", frozen=False)

    kind: str
    uuid: UUID
    timestamp: Timestamp
    atof_version: str | None = None
    scope_category: ScopeCategory | None = None
    category: str | None = None
    parent_uuid: UUID | None = None
    name: str = ""
    metadata: Any = None
    data: Any = None
    category_profile: JsonObject | None = None

    @property
    def is_scope(self) -> bool:
        return self.kind == EventKind.SCOPE

    @property
    def annotated_request(self) -> JsonObject | None:
        """The annotated LLM request NeMo Relay attaches to an LLM start."""
        return _profile_object(self.category_profile, "annotated_request")

    @property
    def annotated_response(self) -> JsonObject | None:
        """The annotated LLM response NeMo Relay attaches to an LLM end."""
        return _profile_object(self.category_profile, "annotated_response")


def _profile_object(profile: JsonObject | None, key: str) -> JsonObject | None:
    if not profile:
        return None
    value = profile.get(key)
    return value if isinstance(value, dict) else None
