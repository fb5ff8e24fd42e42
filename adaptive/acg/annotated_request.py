"""Reading NeMo Relay's ``AnnotatedLlmRequest`` from its JSON form.

Records keep the annotated request as the plain JSON dict NeMo Relay wrote.
The ACG hashes parts of it exactly as Rust re-serializes them after decoding
(``serde`` drops unknown fields of closed structs, skips ``None`` optionals
and keeps ``#[serde(flatten)]`` extras), so this module gives those
re-serialized wire forms and rejects shapes the Rust decoder would refuse.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from adaptive.acg.errors import PromptIRError

JsonObject = dict[str, Any]
MessageContent = str | list[JsonObject]
"""Either plain text or a list of typed content parts (``MessageContent``)."""


class MessageRole(StrEnum):
    """The ``role`` tag of a request message (``Message`` variants)."""

    SYSTEM = "system"
    USER = "user"
    DEVELOPER = "developer"
    ASSISTANT = "assistant"
    TOOL = "tool"
    FUNCTION = "function"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    PROVIDER_NATIVE = "provider_native"


SCAFFOLD_ROLES = frozenset({MessageRole.SYSTEM, MessageRole.DEVELOPER})
"""Roles that belong to the fixed preamble rather than to the conversation."""


class PartType(StrEnum):
    """The ``type`` tag of a content part (``ContentPart`` variants)."""

    TEXT = "text"
    IMAGE_URL = "image_url"
    IMAGE = "image"
    AUDIO = "audio"
    FILE = "file"
    REFUSAL = "refusal"
    TOOL_USE = "tool_use"
    TOOL_RESULT = "tool_result"
    PROVIDER_NATIVE = "provider_native"


# Declared fields of each content part, in Rust declaration order, with
# whether the part also keeps unknown keys (a flattened ``extra`` map).
_PART_FIELDS: dict[PartType, tuple[tuple[str, ...], bool]] = {
    PartType.TEXT: (("text",), True),
    PartType.IMAGE_URL: (("image_url",), True),
    PartType.IMAGE: (("image",), True),
    PartType.AUDIO: (("audio",), True),
    PartType.FILE: (("file",), True),
    PartType.REFUSAL: (("refusal",), True),
    PartType.TOOL_USE: (("id", "name", "input"), True),
    PartType.TOOL_RESULT: (("tool_use_id", "content", "is_error"), True),
    PartType.PROVIDER_NATIVE: (("provider", "kind", "value"), False),
}
_OPTIONAL_PART_FIELDS = frozenset({"is_error"})
_STRING_PART_FIELDS = frozenset(
    {"text", "refusal", "id", "name", "tool_use_id", "provider", "kind"}
)
_FUNCTION_DEFINITION_OPTIONALS = ("description", "parameters", "strict")


def request_messages(request: JsonObject) -> list[JsonObject]:
    """The request's messages; a missing list means none (``#[serde(default)]``)."""
    messages = request.get("messages")
    if messages is None:
        return []
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise PromptIRError("annotated request 'messages' must be a list of objects")
    return messages


def message_role(message: JsonObject) -> MessageRole:
    """The message's role tag; unknown roles fail to decode in Rust too."""
    role = message.get("role")
    try:
        return MessageRole(str(role))
    except ValueError:
        raise PromptIRError(f"unknown message role {role!r}") from None


def required_string(obj: JsonObject, field: str, where: str) -> str:
    """A field that Rust declares as ``String``."""
    value = obj.get(field)
    if not isinstance(value, str):
        raise PromptIRError(f"{where} needs a string '{field}'")
    return value


def optional_string(obj: JsonObject, field: str, where: str) -> str | None:
    """A field that Rust declares as ``Option<String>``."""
    value = obj.get(field)
    if value is not None and not isinstance(value, str):
        raise PromptIRError(f"{where} field '{field}' must be a string or null")
    return value


def message_content(message: JsonObject, where: str) -> MessageContent:
    """A required ``content`` (text or parts)."""
    content = optional_message_content(message, where)
    if content is None:
        raise PromptIRError(f"{where} needs 'content'")
    return content


def optional_message_content(
    obj: JsonObject, where: str, field: str = "content"
) -> MessageContent | None:
    """An ``Option<MessageContent>``, with every part checked to decode."""
    content = obj.get(field)
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        for part in content:
            content_part_type(part, where)
        return content
    raise PromptIRError(f"{where} '{field}' must be a string or a list of parts")


def content_part_type(part: Any, where: str) -> PartType:
    """The part's type tag, after checking its declared fields decode."""
    if not isinstance(part, dict):
        raise PromptIRError(f"{where} has a content part that is not an object")
    try:
        part_type = PartType(str(part.get("type")))
    except ValueError:
        raise PromptIRError(
            f"{where} has an unknown content part type {part.get('type')!r}"
        ) from None
    declared, _ = _PART_FIELDS[part_type]
    for field in declared:
        if field in _OPTIONAL_PART_FIELDS:
            continue
        if field not in part:
            raise PromptIRError(f"{where} {part_type} part needs '{field}'")
        if field in _STRING_PART_FIELDS and not isinstance(part[field], str):
            raise PromptIRError(f"{where} {part_type} part field '{field}' must be a string")
    if part_type is PartType.IMAGE_URL:
        _image_url(part, where)
    return part_type


def content_part_fields(part: JsonObject) -> list[tuple[str, Any]]:
    """The part's fields as Rust serializes the decoded part, in order."""
    part_type = PartType(part["type"])
    declared, keeps_extra = _PART_FIELDS[part_type]
    fields: list[tuple[str, Any]] = [("type", part_type.value)]
    for field in declared:
        value = _image_url(part, "content part") if field == "image_url" else part.get(field)
        if value is not None or field not in _OPTIONAL_PART_FIELDS:
            fields.append((field, value))
    if keeps_extra:
        known = {"type", *declared}
        fields.extend(sorted((k, v) for k, v in part.items() if k not in known))
    return fields


def image_url_parts(part: JsonObject) -> tuple[str, str | None]:
    """``(url, detail)`` of an ``image_url`` part."""
    image_url = _image_url(part, "image_url part")
    return image_url["url"], image_url.get("detail")


def _image_url(part: JsonObject, where: str) -> JsonObject:
    image_url = part.get("image_url")
    if not isinstance(image_url, dict):
        raise PromptIRError(f"{where} image_url part needs an 'image_url' object")
    url = required_string(image_url, "url", f"{where} image_url")
    detail = optional_string(image_url, "detail", f"{where} image_url")
    return {"url": url} if detail is None else {"url": url, "detail": detail}


def content_wire(content: MessageContent) -> Any:
    """A ``MessageContent`` as Rust re-serializes it (for hashing as JSON)."""
    if isinstance(content, str):
        return content
    return [dict(content_part_fields(part)) for part in content]


def tool_definitions(request: JsonObject) -> list[JsonObject] | None:
    """The request's tools; ``None`` when absent or null."""
    tools = request.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise PromptIRError("annotated request 'tools' must be a list")
    for tool in tools:
        tool_definition_wire(tool)
    return tools


def tool_definition_name(tool: JsonObject) -> str:
    """The name a tool's blocks are labelled with: function name or native kind."""
    if tool.get("type") == "provider_native":
        return required_string(tool, "kind", "provider-native tool")
    function = tool.get("function")
    if not isinstance(function, dict):
        raise PromptIRError("function tool needs a 'function' object")
    return required_string(function, "name", "tool function")


def tool_definition_wire(tool: Any) -> JsonObject:
    """A ``ToolDefinition`` as Rust re-serializes it."""
    if not isinstance(tool, dict):
        raise PromptIRError("tool definition must be an object")
    tool_type = tool.get("type")
    if tool_type == "provider_native":
        return _provider_native_wire(tool, "type", "provider-native tool")
    if tool_type != "function":
        raise PromptIRError(f"unknown tool definition type {tool_type!r}")
    tool_definition_name(tool)
    function = {
        k: v
        for k, v in tool["function"].items()
        if v is not None or k not in _FUNCTION_DEFINITION_OPTIONALS
    }
    return {**{k: v for k, v in tool.items() if k != "function"}, "function": function}


def tool_call_wire(call: Any) -> JsonObject:
    """An assistant ``ToolCall``; Rust keeps only its declared fields."""
    if not isinstance(call, dict):
        raise PromptIRError("tool call must be an object")
    function = call.get("function")
    if not isinstance(function, dict):
        raise PromptIRError("tool call needs a 'function' object")
    return {
        "id": required_string(call, "id", "tool call"),
        "type": required_string(call, "type", "tool call"),
        "function": {
            "name": required_string(function, "name", "tool call function"),
            "arguments": required_string(function, "arguments", "tool call function"),
        },
    }


def assistant_tool_calls(message: JsonObject) -> list[Any]:
    """An assistant message's ``tool_calls``; absent or null means none."""
    calls = message.get("tool_calls")
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise PromptIRError("assistant 'tool_calls' must be a list")
    return calls


def item_message_wire(message: JsonObject) -> JsonObject:
    """A ``tool_call``/``tool_result``/``provider_native`` message as Rust re-serializes it."""
    role = message_role(message)
    if role is MessageRole.PROVIDER_NATIVE:
        return _provider_native_wire(message, "role", "provider_native message")
    where = f"{role} message"
    required_string(message, "call_id", where)
    optional_string(message, "id", where)
    payload = "arguments" if role is MessageRole.TOOL_CALL else "output"
    if role is MessageRole.TOOL_CALL:
        required_string(message, "name", where)
    if payload not in message:
        raise PromptIRError(f"{where} needs '{payload}'")
    return {k: v for k, v in message.items() if not (k == "id" and v is None)}


def _provider_native_wire(obj: JsonObject, tag: str, where: str) -> JsonObject:
    if "value" not in obj:
        raise PromptIRError(f"{where} needs 'value'")
    return {
        tag: "provider_native",
        "provider": required_string(obj, "provider", where),
        "kind": required_string(obj, "kind", where),
        "value": obj["value"],
    }


def response_format(request: JsonObject) -> Any | None:
    """The top-level structured-output contract; JSON null counts as absent."""
    return request.get("response_format")


def model_name(request: JsonObject) -> str | None:
    """The requested model, if the request names one."""
    return optional_string(request, "model", "annotated request")


def instructions(request: JsonObject) -> MessageContent | None:
    """Top-level ``instructions`` (OpenAI Responses), if any."""
    return optional_message_content(request, "annotated request", field="instructions")
