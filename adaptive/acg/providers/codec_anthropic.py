"""Anthropic Messages requests decoded like NeMo Relay's ``AnthropicMessagesCodec``.

The system prompt becomes ``instructions``, client tools become function
tools, and anything the codec does not model is kept verbatim as a
provider-native part, message or tool (so it still counts in the prompt IR).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adaptive.acg.providers import codec_fields as f
from adaptive.acg.providers.codec_fields import JsonObject, RequestDecodeError
from adaptive.acg.providers.request_view import DecodedMessage

PROVIDER = "anthropic_messages"
WHERE = "Anthropic Messages"

MODELED_KEYS = frozenset(
    {
        "system",
        "messages",
        "model",
        "max_tokens",
        "temperature",
        "top_p",
        "stop_sequences",
        "tools",
        "tool_choice",
        "metadata",
        "service_tier",
        "stream",
        "cache_control",
        "container",
        "inference_geo",
        "output_config",
        "thinking",
        "top_k",
        "anthropic-user-profile-id",
    }
)
_MESSAGE_ROLES = {"user": "user", "assistant": "assistant", "system": "system"}
_TOOL_WRAPPER_FIELDS = ("name", "description", "input_schema", "strict")


def native_component(value: Any) -> JsonObject:
    kind = f.type_tag(value) if isinstance(value, dict) else "unknown"
    return f.native_wire(PROVIDER, kind, value)


def decode_content(value: Any) -> Any:
    """``MessageContent``: a string stays a string, an array becomes parts."""
    if isinstance(value, str):
        return value
    if not f.is_array(value):
        raise RequestDecodeError(f"{WHERE} content must be a string or an array")
    return [decode_part(part) for part in value]


def decode_part(value: Any) -> JsonObject:
    if not isinstance(value, dict):
        raise RequestDecodeError(f"{WHERE} content block must be an object")
    kind = f.type_tag(value)
    if kind == "text":
        text = f.required_str(value, "text", "Anthropic text block is missing text")
        return {"type": "text", "text": text, **f.object_without(value, ("type", "text"))}
    if kind == "image":
        return {"type": "image", "image": f.object_without(value, ("type",))}
    if kind == "document":
        return {"type": "file", "file": f.object_without(value, ("type",))}
    if kind == "tool_use":
        return _tool_use_part(value)
    if kind == "tool_result":
        return _tool_result_part(value)
    return {"type": "provider_native", **native_component(value)}


def _tool_use_part(value: JsonObject) -> JsonObject:
    block_id = f.required_str(value, "id", "Anthropic tool_use block is missing id")
    name = f.required_str(value, "name", "Anthropic tool_use block is missing name")
    if "input" not in value:
        raise RequestDecodeError("Anthropic tool_use block is missing input")
    extra = f.object_without(value, ("type", "id", "name", "input"))
    return {"type": "tool_use", "id": block_id, "name": name, "input": value["input"], **extra}


def _tool_result_part(value: JsonObject) -> JsonObject:
    tool_use_id = f.required_str(
        value, "tool_use_id", "Anthropic tool_result block is missing tool_use_id"
    )
    if "content" not in value:
        raise RequestDecodeError("Anthropic tool_result block is missing content")
    is_error = value.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise RequestDecodeError("Anthropic tool_result is_error must be a boolean")
    part: JsonObject = {"type": "tool_result", "tool_use_id": tool_use_id}
    part["content"] = value["content"]
    f.set_if_present(part, "is_error", is_error)
    part.update(f.object_without(value, ("type", "tool_use_id", "content", "is_error")))
    return part


def decode_message(value: Any) -> DecodedMessage:
    if not isinstance(value, dict):
        raise RequestDecodeError(f"{WHERE} message must be an object")
    role = f.required_str(value, "role", f"{WHERE} message is missing role")
    if "content" not in value:
        raise RequestDecodeError(f"{WHERE} message is missing content")
    if any(key not in ("role", "content") for key in value):
        return _native_message(role, value)
    content = decode_content(value["content"])
    tag = _MESSAGE_ROLES.get(role)
    if tag is None:
        return _native_message(role, value)
    return DecodedMessage({"role": tag, "content": content}, tag)


def _native_message(role: str, value: JsonObject) -> DecodedMessage:
    return DecodedMessage(
        {"role": "provider_native", **f.native_wire(PROVIDER, role, value)}, "provider_native"
    )


def decode_tool(value: Any) -> JsonObject:
    if not isinstance(value, dict):
        raise RequestDecodeError(f"{WHERE} tool must be an object")
    is_client_tool = "type" not in value and "name" in value and "input_schema" in value
    if not is_client_tool:
        return {"type": "provider_native", **native_component(value)}
    name = f.optional_string(value, "name", f"{WHERE} tool")
    if name is None:
        raise RequestDecodeError(f"{WHERE} tool is missing name")
    description = f.optional_string(value, "description", f"{WHERE} tool")
    strict = f.optional_bool(value, "strict", f"{WHERE} tool")
    function: JsonObject = {"name": name}
    f.set_if_present(function, "description", description)
    function["parameters"] = value["input_schema"]
    f.set_if_present(function, "strict", strict)
    return {
        "type": "function",
        "function": function,
        **f.object_without(value, _TOOL_WRAPPER_FIELDS),
    }


def decode_tools(value: Any) -> list[JsonObject]:
    if not f.is_array(value):
        raise RequestDecodeError(f"{WHERE} tools must be an array")
    return [decode_tool(tool) for tool in value]


def decode_messages(body: Mapping[str, Any]) -> Any:
    """The raw ``messages`` array (decoded message by message by the caller)."""
    if "messages" not in body:
        raise RequestDecodeError(f"{WHERE} request is missing messages")
    messages = body["messages"]
    if not f.is_array(messages):
        raise RequestDecodeError(f"{WHERE} messages must be an array")
    return messages


def decode_instructions(body: Mapping[str, Any]) -> Any:
    return decode_content(body["system"]) if "system" in body else None


def _tool_choice(value: Any) -> Any:
    if isinstance(value, dict):
        tag = value.get("type")
        if tag == "auto":
            return "auto"
        if tag == "any":
            return "required"
        if tag == "none":
            return "none"
        if tag == "tool" and isinstance(value.get("name"), str):
            return {"type": "function", "function": {"name": value["name"]}}
    return native_component(value)


def _parallel_tool_calls(value: Any) -> bool | None:
    if not isinstance(value, dict):
        return None
    disabled = f.optional_bool(value, "disable_parallel_tool_use", f"{WHERE} tool_choice")
    return None if disabled is None else not disabled


def decode_fields(body: Mapping[str, Any]) -> JsonObject:
    """Every annotated member besides messages, instructions, model and tools, in Rust order."""
    temperature = f.optional_f64(body, "temperature", WHERE)
    top_p = f.optional_f64(body, "top_p", WHERE)
    max_tokens = f.optional_u64(body, "max_tokens", WHERE)
    stop_value = body.get("stop_sequences")
    stop = None if stop_value is None else f.string_list(stop_value, "Anthropic stop_sequences")
    fields: JsonObject = {}
    f.set_if_present(fields, "params", f.params_wire(temperature, max_tokens, top_p, stop))
    if "tool_choice" in body:
        fields["tool_choice"] = _tool_choice(body["tool_choice"])
        parallel = _parallel_tool_calls(body["tool_choice"])
    else:
        parallel = None
    f.set_if_present(fields, "metadata", f.optional_object(body, "metadata", WHERE))
    f.set_if_present(fields, "service_tier", f.optional_string(body, "service_tier", WHERE))
    f.set_if_present(fields, "parallel_tool_calls", parallel)
    f.set_if_present(fields, "stream", f.optional_bool(body, "stream", WHERE))
    fields["api_specific"] = _api_specific(body)
    fields.update(f.object_without(body, MODELED_KEYS))
    return fields


def _api_specific(body: Mapping[str, Any]) -> JsonObject:
    api: JsonObject = {"api": PROVIDER}
    f.set_if_present(api, "cache_control", f.optional_object(body, "cache_control", WHERE))
    f.set_if_present(api, "container", f.optional_string(body, "container", WHERE))
    f.set_if_present(api, "inference_geo", f.optional_string(body, "inference_geo", WHERE))
    f.set_if_present(api, "output_config", f.optional_object(body, "output_config", WHERE))
    f.set_if_present(api, "thinking", f.optional_object(body, "thinking", WHERE))
    f.set_if_present(api, "top_k", f.optional_u64(body, "top_k", WHERE))
    profile = f.optional_string(body, "anthropic-user-profile-id", WHERE)
    f.set_if_present(api, "user_profile_id", profile)
    return api
