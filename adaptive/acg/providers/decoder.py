"""Surface detection and decoding of a raw request, memoized per unchanged part.

NeMo Relay's ACG picks the codec from the body's shape alone (no provider
hint): ``input``/``instructions`` mean OpenAI Responses, ``system`` means
Anthropic Messages, an OCI envelope or ``apiFormat`` means OCI GenAI (no ACG
applier), ``messages`` means OpenAI Chat, ``contents`` Gemini (rejected). An
Anthropic request without ``system`` therefore decodes as OpenAI Chat, as in
NeMo Relay, and is never given breakpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adaptive.acg.providers import codec_anthropic, codec_openai_chat, codec_openai_responses
from adaptive.acg.providers import codec_fields as f
from adaptive.acg.providers.codec_fields import JsonObject, RequestDecodeError
from adaptive.acg.providers.memo import BoundedMemo, SnapshotMemo, content_key
from adaptive.acg.providers.request_view import (
    DecodedMessage,
    DecodedRequest,
    DecodedTools,
    RequestSurface,
)

_TextKey = tuple[str, str]


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


_CODECS: dict[RequestSurface, _Codec] = {
    RequestSurface.ANTHROPIC_MESSAGES: _Codec(
        codec_anthropic.WHERE,
        frozenset({"user", "assistant", "system"}),
        codec_anthropic.decode_messages,
        codec_anthropic.decode_message,
        codec_anthropic.decode_tools,
        codec_anthropic.decode_instructions,
        codec_anthropic.decode_fields,
    ),
    RequestSurface.OPENAI_CHAT: _Codec(
        codec_openai_chat.WHERE,
        frozenset({"system", "developer", "user", "assistant"}),
        codec_openai_chat.decode_messages,
        codec_openai_chat.decode_message,
        codec_openai_chat.decode_tools,
        _no_instructions,
        codec_openai_chat.decode_fields,
    ),
    RequestSurface.OPENAI_RESPONSES: _Codec(
        codec_openai_responses.WHERE,
        frozenset({"system", "developer", "user", "assistant"}),
        codec_openai_responses.decode_messages,
        codec_openai_responses.decode_message,
        codec_openai_responses.decode_tools,
        codec_openai_responses.decode_instructions,
        codec_openai_responses.decode_fields,
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


class RequestDecoder:
    """Decodes raw requests, reusing decoded messages and tool lists that did not change.

    Plain text messages (the bulk of a conversation) are recognized by role
    and text, so an equal message rebuilt by the caller is found too; any
    other message by identity and snapshot (``SnapshotMemo``).
    """

    def __init__(self) -> None:
        self._texts = {surface: BoundedMemo[_TextKey, DecodedMessage]() for surface in _CODECS}
        self._messages = {surface: SnapshotMemo[DecodedMessage]() for surface in _CODECS}
        self._tools = {surface: SnapshotMemo[DecodedTools]() for surface in _CODECS}
        self._tools_by_content = {
            surface: BoundedMemo[bytes | str, DecodedTools](256) for surface in _CODECS
        }

    def decode(self, body: Mapping[str, Any]) -> DecodedRequest:
        """Raises ``RequestDecodeError`` when NeMo Relay would not rewrite the shape at all."""
        surface = detect_surface(body)
        if surface is None:
            raise RequestDecodeError("no ACG request surface for this body shape")
        return self.decode_as(surface, body)

    def decode_as(self, surface: RequestSurface, body: Mapping[str, Any]) -> DecodedRequest:
        """Decode with one surface's codec, as a caller-chosen NeMo Relay codec would."""
        codec = _CODECS[surface]
        raw_messages = codec.messages(body)
        if isinstance(raw_messages, str):
            messages = [DecodedMessage({"role": "user", "content": raw_messages}, "user")]
        else:
            messages = [self._message(surface, raw) for raw in raw_messages]
        instructions = codec.instructions(body)
        model = f.optional_string(body, "model", codec.where)
        tools = self._tool_list(surface, body["tools"]) if "tools" in body else None
        return DecodedRequest(surface, model, instructions, messages, tools, codec.fields(body))

    def _message(self, surface: RequestSurface, raw: Any) -> DecodedMessage:
        if type(raw) is dict and len(raw) == 2:
            role, content = raw.get("role"), raw.get("content")
            if type(content) is str and role in _CODECS[surface].text_roles:
                return self._text_message(surface, role, content)
        memo = self._messages[surface]
        decoded = memo.get(raw)
        if decoded is None:
            decoded = memo.put(raw, _CODECS[surface].message(raw))
        return decoded

    def _text_message(self, surface: RequestSurface, role: str, content: str) -> DecodedMessage:
        memo = self._texts[surface]
        decoded = memo.get((role, content))
        if decoded is None:
            decoded = DecodedMessage({"role": role, "content": content}, role)
            memo.put((role, content), decoded)
        return decoded

    def _tool_list(self, surface: RequestSurface, raw: Any) -> DecodedTools:
        """By identity, else by content: tool lists are large and often rebuilt per call."""
        memo = self._tools[surface]
        decoded = memo.get(raw)
        if decoded is not None:
            return decoded
        by_content = self._tools_by_content[surface]
        key = content_key(raw)
        decoded = by_content.get(key)
        if decoded is None:
            decoded = by_content.put(key, DecodedTools(_CODECS[surface].tools(raw)))
        return memo.put(raw, decoded)
