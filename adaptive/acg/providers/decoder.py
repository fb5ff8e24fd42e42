"""Surface detection and decoding of a raw request, memoized per unchanged part.

NeMo Relay's ACG picks the codec from the body's shape alone (no provider
hint): ``input``/``instructions`` mean OpenAI Responses, ``system`` means
Anthropic Messages, an OCI envelope or ``apiFormat`` means OCI GenAI (no ACG
applier), ``messages`` means OpenAI Chat, ``contents`` Gemini (rejected). An
Anthropic request without ``system`` therefore decodes as OpenAI Chat, as in
NeMo Relay, and is never given breakpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adaptive.acg.providers import codec_anthropic, codec_openai_chat, codec_openai_responses
from adaptive.acg.providers import codec_fields as f
from adaptive.acg.providers.codec_fields import JsonObject, RequestDecodeError
from adaptive.acg.providers.memo import (
    BoundedMemo,
    LongTexts,
    RecentMemo,
    SnapshotMemo,
    exact_key,
    private_copy,
)
from adaptive.acg.providers.request_view import (
    SCAFFOLD_ROLES,
    DecodedMessage,
    DecodedMessages,
    DecodedRequest,
    DecodedTools,
    RequestSurface,
)

_TextKey = tuple[str, str]
_SEPARATE_MEMBERS = frozenset({"messages", "input", "system", "instructions", "model", "tools"})
"""Members decoded apart from ``fields``: left out of its memo key where the codec models them
(its ``decode_fields`` then never reads them)."""


def _no_instructions(body: Mapping[str, Any]) -> Any:
    return None


@dataclass(frozen=True, slots=True)
class _Codec:
    """The decoding steps of one built-in codec."""

    where: str
    text_roles: frozenset[str]
    """Roles whose ``{"role", "content": str}`` message decodes to just that role and text."""
    messages: Callable[[Mapping[str, Any]], Any]
    message: Callable[[Any], DecodedMessage]
    tools: Callable[[Any], list[JsonObject]]
    instructions: Callable[[Mapping[str, Any]], Any]
    fields: Callable[[Mapping[str, Any]], JsonObject]
    modeled: frozenset[str]

    @property
    def plain_roles(self) -> tuple[str, ...]:
        """Text roles of conversation turns: decoded only when read (``DecodedMessages``)."""
        return tuple(sorted(self.text_roles - SCAFFOLD_ROLES))

    @property
    def separate(self) -> frozenset[str]:
        """Members left out of the ``fields`` memo key: decoded apart and modeled."""
        return _SEPARATE_MEMBERS & self.modeled


_CODECS: dict[RequestSurface, _Codec] = {
    RequestSurface.ANTHROPIC_MESSAGES: _Codec(
        codec_anthropic.WHERE,
        frozenset({"user", "assistant", "system"}),
        codec_anthropic.decode_messages,
        codec_anthropic.decode_message,
        codec_anthropic.decode_tools,
        codec_anthropic.decode_instructions,
        codec_anthropic.decode_fields,
        codec_anthropic.MODELED_KEYS,
    ),
    RequestSurface.OPENAI_CHAT: _Codec(
        codec_openai_chat.WHERE,
        frozenset({"system", "developer", "user", "assistant"}),
        codec_openai_chat.decode_messages,
        codec_openai_chat.decode_message,
        codec_openai_chat.decode_tools,
        _no_instructions,
        codec_openai_chat.decode_fields,
        codec_openai_chat.MODELED_KEYS,
    ),
    RequestSurface.OPENAI_RESPONSES: _Codec(
        codec_openai_responses.WHERE,
        frozenset({"system", "developer", "user", "assistant"}),
        codec_openai_responses.decode_messages,
        codec_openai_responses.decode_message,
        codec_openai_responses.decode_tools,
        codec_openai_responses.decode_instructions,
        codec_openai_responses.decode_fields,
        codec_openai_responses.MODELED_KEYS,
    ),
}


def detect_surface(body: Mapping[str, Any]) -> RequestSurface | None:
    """The surface NeMo Relay's ACG resolves for a body; None when it has no applier."""
    if "input" in body or "instructions" in body:
        return RequestSurface.OPENAI_RESPONSES
    if "system" in body:
        return RequestSurface.ANTHROPIC_MESSAGES
    if _is_oci(body):
        return None
    if "messages" in body:
        return RequestSurface.OPENAI_CHAT
    return None


def _is_oci(body: Mapping[str, Any]) -> bool:
    envelope = isinstance(body.get("chatRequest"), dict) and (
        "servingMode" in body or "compartmentId" in body
    )
    return envelope or "apiFormat" in body


class _SurfaceDecoder:
    """One surface's decoding, with memos of the request parts it saw before."""

    def __init__(self, surface: RequestSurface, codec: _Codec) -> None:
        self.surface = surface
        self.codec = codec
        self._plain_roles = codec.plain_roles
        self._separate = codec.separate
        self._texts: BoundedMemo[_TextKey, DecodedMessage] = BoundedMemo()
        self._messages: SnapshotMemo[DecodedMessage] = SnapshotMemo()
        self._recent_tools: RecentMemo[DecodedTools] = RecentMemo()
        self._tools_by_content: BoundedMemo[bytes, DecodedTools] = BoundedMemo(256)
        self._fields: BoundedMemo[bytes, JsonObject] = BoundedMemo(256)
        self._long_texts = LongTexts()

    def decode(self, body: Mapping[str, Any]) -> DecodedRequest:
        codec = self.codec
        raw_messages = codec.messages(body)
        if isinstance(raw_messages, str):
            single = DecodedMessage({"role": "user", "content": raw_messages}, "user")
            messages = DecodedMessages((raw_messages,), {0: single}, self.text_message)
        else:
            messages = self.messages(raw_messages)
        instructions = codec.instructions(body)
        if isinstance(instructions, str):
            instructions = self._long_texts.intern(instructions)
        model = f.optional_string(body, "model", codec.where)
        tools = self.tool_list(body["tools"]) if "tools" in body else None
        return DecodedRequest(self.surface, model, instructions, messages, tools, self.fields(body))

    def messages(self, raw_messages: Sequence[Any]) -> DecodedMessages:
        """Check every message; decode now only those that are not plain text turns.

        A plain turn (``{"role": "user" | "assistant", "content": str}``) always
        decodes to just its role and text, so checking its shape is all the
        codec would do; a conversation of hundreds of them costs a loop.
        """
        plain = self._plain_roles
        decoded: dict[int, DecodedMessage] = {}
        for index, raw in enumerate(raw_messages):
            if (
                type(raw) is dict
                and len(raw) == 2
                and type(raw.get("content")) is str
                and raw.get("role") in plain
            ):
                continue
            decoded[index] = self.message(raw)
        return DecodedMessages(raw_messages, decoded, self.text_message)

    def message(self, raw: Any) -> DecodedMessage:
        if type(raw) is dict and len(raw) == 2:
            role, content = raw.get("role"), raw.get("content")
            if type(content) is str and type(role) is str and role in self.codec.text_roles:
                return self.text_message(role, content)
        memo = self._messages
        decoded = memo.get(raw)
        if decoded is None:
            decoded = memo.put(raw, self.codec.message(raw))
        return decoded

    def text_message(self, role: str, content: str) -> DecodedMessage:
        """A plain text message, by role and text (also the lazy half of ``DecodedMessages``)."""
        key = (role, self._long_texts.intern(content))
        decoded = self._texts.get(key)
        if decoded is None:
            wire = {"role": role, "content": key[1]}
            decoded = self._texts.put(key, DecodedMessage(wire, role))
        return decoded

    def fields(self, body: Mapping[str, Any]) -> JsonObject:
        """The annotated members besides messages, instructions, model and tools.

        ``decode_fields`` reads named members and the unmodeled rest, never a
        member decoded apart, so its result depends on the remaining members
        alone: those are the memo key. Shared between requests: never edited.
        """
        separate = self._separate
        rest = {name: value for name, value in body.items() if name not in separate}
        key = exact_key(rest)
        if key is None:
            return self.codec.fields(body)
        fields = self._fields.get(key)
        if fields is None:
            fields = self._fields.put(key, self.codec.fields(private_copy(key)))
        return fields

    def tool_list(self, raw: Any) -> DecodedTools:
        """By content: an exact comparison with the lists seen last, then by marshal bytes."""
        decoded = self._recent_tools.get(raw)
        if decoded is not None:
            return decoded
        key = exact_key(raw)
        if key is None:
            return DecodedTools(self.codec.tools(raw))
        decoded = self._tools_by_content.get(key)
        if decoded is None:
            wire = self.codec.tools(private_copy(key))
            decoded = self._tools_by_content.put(key, DecodedTools(wire))
        return self._recent_tools.put(raw, decoded)


class RequestDecoder:
    """Decodes raw requests, reusing what it decoded from equal parts before.

    Requests usually arrive as new objects with the same system prompt, tool
    list and earlier turns (through NeMo Relay always: an execution intercept
    gets ``request.content`` freshly converted), so parts are found by
    content: plain text turns are only checked (decoded when read, by role
    and text), the tool list by an exact comparison with the lists seen last,
    else by its ``marshal`` bytes, the remaining members by their ``marshal``
    bytes. What is kept for later requests is decoded from a private copy, so
    a caller editing its request afterwards cannot change it. Other messages
    are decoded each time, or found by identity when the caller sends the
    very same object again (``SnapshotMemo``).
    """

    def __init__(self) -> None:
        self._surfaces = {
            surface: _SurfaceDecoder(surface, codec) for surface, codec in _CODECS.items()
        }

    def decode(self, body: Mapping[str, Any]) -> DecodedRequest:
        """Raises ``RequestDecodeError`` when NeMo Relay would not rewrite the shape at all."""
        surface = detect_surface(body)
        if surface is None:
            raise RequestDecodeError("no ACG request surface for this body shape")
        return self.decode_as(surface, body)

    def decode_as(self, surface: RequestSurface, body: Mapping[str, Any]) -> DecodedRequest:
        """Decode with one surface's codec, as a caller-chosen NeMo Relay codec would."""
        return self._surfaces[surface].decode(body)
