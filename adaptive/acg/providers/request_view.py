"""A raw provider request decoded into the parts ACG reads, as NeMo Relay decodes it.

NeMo Relay's ACG never reads the raw body directly: it decodes it with the
built-in codec of the detected surface into ``AnnotatedLlmRequest`` and
derives the learning key and prompt IR from that. ``DecodedRequest`` holds
the same decoded form (each part as the Rust struct serializes, including a
``null`` that a JSON round trip would drop), split so that unchanged parts
can be memoized and the full annotated request is only assembled when a
digest of the whole request is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from adaptive.acg.providers.codec_fields import JsonObject

if TYPE_CHECKING:
    from adaptive.acg.providers.prefix import BlockSpec


class RequestSurface(StrEnum):
    """Request shapes NeMo Relay 0.10.4's ACG can rewrite (its codec names)."""

    ANTHROPIC_MESSAGES = "anthropic_messages"
    OPENAI_CHAT = "openai_chat"
    OPENAI_RESPONSES = "openai_responses"


SCAFFOLD_ROLES = frozenset({"system", "developer"})
"""Message role tags that belong to the fixed preamble (``Message::System``/``Developer``)."""


@dataclass(slots=True, eq=False)
class DecodedMessage:
    """One ``Message``: its serialized form, its role tag, and its IR blocks once built."""

    wire: JsonObject
    role: str
    specs: tuple[BlockSpec, ...] | None = None


@dataclass(slots=True, eq=False)
class DecodedTools:
    """The request's ``ToolDefinition`` list and what ACG derives from it, built once."""

    wire: list[JsonObject]
    canonical: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    fingerprint: str | None = None
    """``tool_schema_fingerprint``; None until computed."""
    relay: tuple[list[Any], list[Any]] | None = None
    """The raw tools after NeMo Relay's canonicalize-and-reparse, and a private snapshot."""
    specs: tuple[BlockSpec, ...] | None = None


@dataclass(slots=True, eq=False)
class DecodedRequest:
    """A decoded request; ``fields`` holds every other annotated member (params, extras...)."""

    surface: RequestSurface
    model: str | None
    instructions: Any
    messages: list[DecodedMessage]
    tools: DecodedTools | None
    fields: JsonObject = field(default_factory=dict)

    @property
    def response_format(self) -> Any:
        """The top-level ``extra["response_format"]``; ``None`` when absent or null."""
        return self.fields.get("response_format")

    def annotated(self) -> JsonObject:
        """The whole ``AnnotatedLlmRequest`` as NeMo Relay serializes it."""
        wire: JsonObject = {"messages": [message.wire for message in self.messages]}
        if self.instructions is not None:
            wire["instructions"] = self.instructions
        if self.model is not None:
            wire["model"] = self.model
        if self.tools is not None:
            wire["tools"] = self.tools.wire
        wire.update(self.fields)
        return wire
