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

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, overload

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


TextMessage = Callable[[str, str], DecodedMessage]
"""The decoded form of a plain ``{"role", "content": str}`` message (role, content)."""


class DecodedMessages(Sequence[DecodedMessage]):
    """A request's messages, the plain text turns decoded only when read.

    A conversation is mostly plain user and assistant text turns, and a
    rewrite usually reads none of them: the learned prefix ends in the
    scaffold (system, tools), and the system fingerprint reads only system
    and developer messages. The decoder checks every message (a message NeMo
    Relay's codec refuses still leaves the request alone) but decodes up
    front only those that are not plain turns; ``scaffold`` lists those with
    a scaffold role without touching the rest. Plain turns are read from the
    raw body when asked for, so a view is valid while that body is unchanged
    (the rewrite of one request).
    """

    __slots__ = ("_decoded", "_raw", "_text")

    def __init__(
        self, raw: Sequence[Any], decoded: dict[int, DecodedMessage], text: TextMessage
    ) -> None:
        self._raw = raw
        self._decoded = decoded
        """Every message that is not a plain text turn, by position."""
        self._text = text

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> DecodedMessage: ...

    @overload
    def __getitem__(self, index: slice) -> list[DecodedMessage]: ...

    def __getitem__(self, index: int | slice) -> DecodedMessage | list[DecodedMessage]:
        if isinstance(index, slice):
            return [self.at(position) for position in range(len(self._raw))[index]]
        position = range(len(self._raw))[index]
        return self.at(position)

    def __iter__(self) -> Iterator[DecodedMessage]:
        return (self.at(position) for position in range(len(self._raw)))

    def at(self, position: int) -> DecodedMessage:
        """The message at a position in ``0 <= position < len(self)``, decoded if need be."""
        decoded = self._decoded.get(position)
        if decoded is None:
            raw = self._raw[position]
            decoded = self._text(raw["role"], raw["content"])
        return decoded

    def scaffold(self) -> Iterator[DecodedMessage]:
        """System and developer messages, in order (never a plain user/assistant turn)."""
        return (message for message in self._decoded.values() if message.role in SCAFFOLD_ROLES)


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
    messages: DecodedMessages
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
