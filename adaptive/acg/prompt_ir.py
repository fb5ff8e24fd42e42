"""Prompt IR: a request flattened into addressable, labelled blocks.

Stability is judged per block across many requests, so the conversation's
nesting (messages, parts, tool calls) is flattened into one ordered block
list. These models serialize exactly like NeMo Relay's ``PromptIR`` so
observation windows can be shared with NeMo Relay through storage.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import ConfigDict

from adaptive.timestamps import Timestamp
from adaptive.wire import WireModel


class PromptRole(StrEnum):
    """Conversation role of a block."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class BlockContentType(StrEnum):
    """What kind of content a block carries."""

    TEXT = "text"
    TOOL_SCHEMA = "tool_schema"
    TOOL_RESULT = "tool_result"
    STRUCTURED_OUTPUT = "structured_output"
    IMAGE = "image"


class ProvenanceLabel(StrEnum):
    """Where a block's content came from (drives caching and sharing rules)."""

    SYSTEM = "system"
    DEVELOPER = "developer"
    USER = "user"
    TOOL = "tool"
    RETRIEVAL = "retrieval"
    MEMORY = "memory"


class SensitivityLabel(StrEnum):
    """Sharing restriction of a block; public unless explicitly promoted."""

    PUBLIC = "public"
    PRIVATE = "private"
    RESTRICTED = "restricted"


class TokenizationMetadata(WireModel):
    """Token count of a block for one model family."""

    model_family: str
    token_count: int


class PromptBlock(WireModel):
    """One addressable block; ``span_id`` names the same slot across requests.

    Frozen: the IR builder shares equal blocks between observations.
    """

    model_config = ConfigDict(frozen=True)

    omit_when_none: ClassVar[frozenset[str]] = frozenset({"token_metadata"})

    span_id: str
    sequence_index: int
    role: PromptRole
    content: str
    content_type: BlockContentType
    provenance: ProvenanceLabel
    sensitivity: SensitivityLabel = SensitivityLabel.PUBLIC
    token_metadata: TokenizationMetadata | None = None


class ToolSchemaHash(WireModel):
    """Hash of one tool definition, to notice when the toolset changes."""

    tool_name: str
    schema_hash: str


class PromptIR(WireModel):
    """A whole request as an ordered block list plus request-level hashes."""

    omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {"tool_schema_hashes", "structured_output_schema_id", "source_request_hash"}
    )

    ir_id: UUID
    blocks: list[PromptBlock]
    tool_schema_hashes: list[ToolSchemaHash] | None = None
    structured_output_schema_id: str | None = None
    source_request_hash: str | None = None
    created_at: Timestamp
