"""OpenAI Responses requests decoded like NeMo Relay's ``OpenAIResponsesCodec``.

``input`` becomes the message list (a bare string is one user message),
``instructions`` stays separate, ``function_call``/``function_call_output``
items become tool-call/tool-result items whose blocks are their canonical
JSON, and any other item is kept whole as provider-native.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adaptive.acg.providers import codec_fields as f
from adaptive.acg.providers.codec_fields import JsonObject, RequestDecodeError
from adaptive.acg.providers.codec_openai_chat import function_wire
from adaptive.acg.providers.relay_json import serde_loads
from adaptive.acg.providers.request_view import DecodedMessage

PROVIDER = "openai_responses"
WHERE = "OpenAI Responses"

MODELED_KEYS = frozenset(
    {
        "input",
        "instructions",
        "model",
        "max_output_tokens",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "store",
        "previous_response_id",
        "truncation",
        "reasoning",
        "include",
        "user",
        "metadata",
        "service_tier",
        "parallel_tool_calls",
        "max_tool_calls",
        "top_logprobs",
        "stream",
        "background",
        "context_management",
        "conversation",
        "moderation",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "safety_identifier",
        "stream_options",
        "text",
    }
)
_MESSAGE_ROLES = ("user", "system", "developer", "assistant")
_IMAGE_FIELDS = ("image_url", "file_id", "detail")
_FILE_FIELDS = ("file_data", "file_id", "file_url", "filename")


def _subset(obj: Mapping[str, Any], names: tuple[str, ...]) -> JsonObject:
    return {key: value for key, value in obj.items() if key in names}


def decode_content(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if not f.is_array(value):
        raise RequestDecodeError(f"{WHERE} message content must be a string or array")
    return [decode_part(part) for part in value]


def decode_part(value: Any) -> JsonObject:
    if not isinstance(value, dict):
        raise RequestDecodeError(f"{WHERE} content part must be an object")
    kind = f.type_tag(value)
    if kind in ("input_text", "output_text"):
        text = f.required_str(value, "text", f"{WHERE} text part is missing text")
        return {"type": "text", "text": text, **f.object_without(value, ("type", "text"))}
    if kind == "input_image":
        extra = f.object_without(value, ("type", *_IMAGE_FIELDS))
        return {"type": "image", "image": _subset(value, _IMAGE_FIELDS), **extra}
    if kind == "input_file":
        extra = f.object_without(value, ("type", *_FILE_FIELDS))
        return {"type": "file", "file": _subset(value, _FILE_FIELDS), **extra}
    if kind == "refusal":
        refusal = f.required_str(value, "refusal", f"{WHERE} refusal part is missing refusal")
        extra = f.object_without(value, ("type", "refusal"))
        return {"type": "refusal", "refusal": refusal, **extra}
    return {"type": "provider_native", **f.native_wire(PROVIDER, kind, value)}


def decode_message(value: Any) -> DecodedMessage:
    """One ``input`` item."""
    if not isinstance(value, dict):
        raise RequestDecodeError(f"{WHERE} input item must be an object")
    role = value.get("role")
    if isinstance(role, str):
        return _role_message(role, value)
    kind = f.type_tag(value)
    if kind == "function_call":
        return _function_call(value)
    if kind == "function_call_output":
        return _function_call_output(value)
    return _native_message(kind, value)


def _native_message(kind: str, value: JsonObject) -> DecodedMessage:
    return DecodedMessage(
        {"role": "provider_native", **f.native_wire(PROVIDER, kind, value)}, "provider_native"
    )


def _role_message(role: str, value: JsonObject) -> DecodedMessage:
    if any(key not in ("type", "role", "content") for key in value):
        return _native_message("message", value)
    if "content" not in value:
        raise RequestDecodeError(f"{WHERE} message is missing content")
    content = decode_content(value["content"])
    if role not in _MESSAGE_ROLES:
        return _native_message("message", value)
    return DecodedMessage({"role": role, "content": content}, role)


def _item_id(value: JsonObject, kind: str) -> str | None:
    item_id = value.get("id")
    if item_id is None or isinstance(item_id, str):
        return item_id
    raise RequestDecodeError(f"{WHERE} {kind} id must be a string or null")


def parse_arguments(arguments: str) -> Any:
    """``serde_json::from_str(arguments)``, or the text itself when it is not JSON."""
    try:
        return serde_loads(arguments)
    except ValueError:
        return arguments


def _function_call(value: JsonObject) -> DecodedMessage:
    call_id = f.required_str(value, "call_id", f"{WHERE} function_call is missing call_id")
    name = f.required_str(value, "name", f"{WHERE} function_call is missing name")
    arguments = f.required_str(value, "arguments", f"{WHERE} function_call is missing arguments")
    item_id = _item_id(value, "function_call")
    wire: JsonObject = {"role": "tool_call"}
    f.set_if_present(wire, "id", item_id)
    wire.update({"call_id": call_id, "name": name, "arguments": parse_arguments(arguments)})
    wire.update(f.object_without(value, ("type", "id", "call_id", "name", "arguments")))
    return DecodedMessage(wire, "tool_call")


def _function_call_output(value: JsonObject) -> DecodedMessage:
    call_id = f.required_str(value, "call_id", f"{WHERE} function_call_output is missing call_id")
    if "output" not in value:
        raise RequestDecodeError(f"{WHERE} function_call_output is missing output")
    item_id = _item_id(value, "function_call_output")
    wire: JsonObject = {"role": "tool_result"}
    f.set_if_present(wire, "id", item_id)
    wire.update({"call_id": call_id, "output": value["output"]})
    wire.update(f.object_without(value, ("type", "id", "call_id", "output")))
    return DecodedMessage(wire, "tool_result")


def decode_tool(value: Any) -> JsonObject:
    if not isinstance(value, dict):
        raise RequestDecodeError(f"{WHERE} tool must be an object")
    if value.get("type") != "function":
        return {"type": "provider_native", **f.native_wire(PROVIDER, f.type_tag(value), value)}
    nested = value.get("function")
    if isinstance(nested, dict):
        wire = function_wire(nested, f"{WHERE} function tool", ("type", "function"))
        extra = f.object_without(value, ("type", "function"))
        return {"type": "function", "function": wire, **extra}
    wire = function_wire(value, f"{WHERE} function tool", ("type", "function"))
    return {"type": "function", "function": wire}


def decode_tools(value: Any) -> list[JsonObject]:
    if not f.is_array(value):
        raise RequestDecodeError(f"{WHERE} tools must be an array")
    return [decode_tool(tool) for tool in value]


def decode_messages(body: Mapping[str, Any]) -> Any:
    """The raw ``input`` items; a string input is returned as is (one user message)."""
    if "input" not in body:
        raise RequestDecodeError(f"{WHERE} request is missing input")
    items = body["input"]
    if isinstance(items, str) or f.is_array(items):
        return items
    raise RequestDecodeError(f"{WHERE} input must be a string or an array")


def decode_instructions(body: Mapping[str, Any]) -> Any:
    instructions = body.get("instructions")
    if instructions is None or isinstance(instructions, str):
        return instructions
    raise RequestDecodeError(f"{WHERE} instructions must be a string or null")


def _tool_choice(value: Any) -> Any:
    if isinstance(value, str) and value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict):
        tag = value.get("type")
        if tag == "auto":
            return "auto"
        if tag == "any":
            return "required"
        if tag == "none":
            return "none"
        if tag in ("tool", "function"):
            name = _tool_choice_name(value)
            if name is not None:
                return {"type": "function", "function": {"name": name}}
    return f.native_wire(PROVIDER, "tool_choice", value)


def _tool_choice_name(value: JsonObject) -> str | None:
    """``name``, else ``function.name`` (Anthropic and OpenAI spellings)."""
    function = value.get("function")
    for name in (value.get("name"), function.get("name") if isinstance(function, dict) else None):
        if isinstance(name, str):
            return name
    return None


def _parallel_tool_calls(body: Mapping[str, Any]) -> bool | None:
    parallel = f.optional_bool(body, "parallel_tool_calls", WHERE)
    if parallel is not None:
        return parallel
    tool_choice = body.get("tool_choice")
    if not isinstance(tool_choice, dict):
        return None
    disabled = f.optional_bool(tool_choice, "disable_parallel_tool_use", f"{WHERE} tool_choice")
    return None if disabled is None else not disabled


def decode_fields(body: Mapping[str, Any]) -> JsonObject:
    """Every annotated member besides messages, instructions, model and tools."""
    temperature = f.optional_f64(body, "temperature", WHERE)
    top_p = f.optional_f64(body, "top_p", WHERE)
    max_tokens = f.optional_u64(body, "max_output_tokens", WHERE)
    fields: JsonObject = {}
    f.set_if_present(fields, "params", f.params_wire(temperature, max_tokens, top_p, None))
    if "tool_choice" in body:
        fields["tool_choice"] = _tool_choice(body["tool_choice"])
    f.set_if_present(fields, "store", f.optional_bool(body, "store", WHERE))
    previous = f.optional_string(body, "previous_response_id", WHERE)
    f.set_if_present(fields, "previous_response_id", previous)
    if "truncation" in body:
        fields["truncation"] = body["truncation"]
    f.set_if_present(fields, "reasoning", f.optional_object(body, "reasoning", WHERE))
    f.set_if_present(fields, "include", f.optional_array(body, "include", WHERE))
    f.set_if_present(fields, "user", f.optional_string(body, "user", WHERE))
    f.set_if_present(fields, "metadata", f.optional_object(body, "metadata", WHERE))
    f.set_if_present(fields, "service_tier", f.optional_string(body, "service_tier", WHERE))
    f.set_if_present(fields, "parallel_tool_calls", _parallel_tool_calls(body))
    f.set_if_present(fields, "max_output_tokens", max_tokens)
    f.set_if_present(fields, "max_tool_calls", f.optional_u64(body, "max_tool_calls", WHERE))
    f.set_if_present(fields, "top_logprobs", f.optional_u64(body, "top_logprobs", WHERE))
    f.set_if_present(fields, "stream", f.optional_bool(body, "stream", WHERE))
    fields["api_specific"] = _api_specific(body)
    fields.update(f.object_without(body, MODELED_KEYS))
    return fields


_API_OBJECTS = ("moderation", "prompt", "prompt_cache_options", "stream_options", "text")
_API_STRINGS = ("prompt_cache_key", "prompt_cache_retention", "safety_identifier")


def _api_specific(body: Mapping[str, Any]) -> JsonObject:
    api: JsonObject = {"api": PROVIDER}
    f.set_if_present(api, "background", f.optional_bool(body, "background", WHERE))
    context = f.optional_array(body, "context_management", WHERE)
    f.set_if_present(api, "context_management", context)
    if "conversation" in body:
        api["conversation"] = body["conversation"]
    for name in _API_OBJECTS:
        f.set_if_present(api, name, f.optional_object(body, name, WHERE))
    for name in _API_STRINGS:
        f.set_if_present(api, name, f.optional_string(body, name, WHERE))
    return api
