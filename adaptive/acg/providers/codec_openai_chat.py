"""OpenAI Chat Completions requests decoded like NeMo Relay's ``OpenAIChatCodec``.

A message, tool call or tool with members the codec does not model is kept
whole as provider-native; ``response_format`` is API-specific here (not the
top-level extra the learning key reads), so Chat requests never get a
structured-output block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adaptive.acg.providers import codec_fields as f
from adaptive.acg.providers.codec_fields import JsonObject, RequestDecodeError
from adaptive.acg.providers.request_view import DecodedMessage

PROVIDER = "openai_chat"
WHERE = "OpenAI Chat"

MODELED_KEYS = frozenset(
    {
        "messages",
        "model",
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "store",
        "user",
        "metadata",
        "service_tier",
        "parallel_tool_calls",
        "top_logprobs",
        "stream",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "modalities",
        "moderation",
        "n",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "stream_options",
        "verbosity",
        "web_search_options",
    }
)
_PLAIN_ROLES = ("role", "content", "name")
_ASSISTANT_KEYS = ("role", "content", "tool_calls", "name")
_FUNCTION_FIELDS = ("name", "description", "parameters", "strict")
_SINGLE_FIELD_PARTS = {"input_audio": "audio", "file": "file"}


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
    if kind in ("text", "refusal"):
        text = f.required_str(value, kind, f"{WHERE} {kind} part is missing {kind}")
        return {"type": kind, kind: text, **f.object_without(value, ("type", kind))}
    if kind == "image_url":
        extra = f.object_without(value, ("type", "image_url"))
        return {"type": "image_url", "image_url": image_url_wire(value), **extra}
    wire_field = _SINGLE_FIELD_PARTS.get(kind)
    if wire_field is not None:
        if kind not in value:
            raise RequestDecodeError(f"{WHERE} part is missing {kind}")
        extra = f.object_without(value, ("type", kind))
        return {"type": wire_field, wire_field: value[kind], **extra}
    return {"type": "provider_native", **f.native_wire(PROVIDER, kind, value)}


def image_url_wire(part: Mapping[str, Any]) -> JsonObject:
    """``OpenAiImageUrl``: ``url`` required, ``detail`` optional, other members dropped."""
    if "image_url" not in part:
        raise RequestDecodeError(f"{WHERE} image part is missing image_url")
    image_url = part["image_url"]
    if not isinstance(image_url, dict):
        raise RequestDecodeError(f"invalid {WHERE} image_url")
    url = f.required_str(image_url, "url", f"invalid {WHERE} image_url: missing url")
    detail = f.optional_string(image_url, "detail", f"invalid {WHERE} image_url:")
    return {"url": url} if detail is None else {"url": url, "detail": detail}


def _tool_call(value: Any) -> JsonObject | None:
    """A function tool call, or None when the codec keeps the message native."""
    if not isinstance(value, dict):
        raise RequestDecodeError(f"{WHERE} tool call must be an object")
    if value.get("type") != "function" or any(k not in ("id", "type", "function") for k in value):
        return None
    function = value.get("function")
    if not isinstance(function, dict):
        raise RequestDecodeError(f"{WHERE} function tool call is missing function")
    if any(key not in ("name", "arguments") for key in function):
        return None
    call_id = f.required_str(value, "id", f"{WHERE} function tool call is missing id")
    name = f.required_str(function, "name", f"{WHERE} function tool call is missing name")
    arguments = f.required_str(
        function, "arguments", f"{WHERE} function tool call is missing arguments"
    )
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def decode_message(value: Any) -> DecodedMessage:
    if not isinstance(value, dict):
        raise RequestDecodeError(f"{WHERE} message must be an object")
    role = f.required_str(value, "role", f"{WHERE} message is missing role")
    if role in ("system", "developer", "user"):
        return _plain_message(role, value)
    if role == "assistant":
        return _assistant_message(value)
    if role == "tool" and all(key in ("role", "content", "tool_call_id") for key in value):
        return _tool_message(value)
    if role == "function" and all(key in _PLAIN_ROLES for key in value):
        return _function_message(value)
    return _native_message(role, value)


def _native_message(role: str, value: JsonObject) -> DecodedMessage:
    return DecodedMessage(
        {"role": "provider_native", **f.native_wire(PROVIDER, role, value)}, "provider_native"
    )


def _plain_message(role: str, value: JsonObject) -> DecodedMessage:
    if any(key not in _PLAIN_ROLES for key in value):
        return _native_message(role, value)
    if "content" not in value:
        raise RequestDecodeError(f"{WHERE} message is missing content")
    wire: JsonObject = {"role": role, "content": decode_content(value["content"])}
    f.set_if_present(wire, "name", f.optional_string(value, "name", f"{WHERE} message"))
    return DecodedMessage(wire, role)


def _assistant_message(value: JsonObject) -> DecodedMessage:
    if any(key not in _ASSISTANT_KEYS for key in value):
        return _native_message("assistant", value)
    raw_content = value.get("content")
    content = None if raw_content is None else decode_content(raw_content)
    raw_calls = value.get("tool_calls")
    calls: list[JsonObject] | None = None
    if raw_calls is not None:
        if not f.is_array(raw_calls):
            raise RequestDecodeError(f"{WHERE} assistant tool_calls must be an array or null")
        decoded = [_tool_call(call) for call in raw_calls]
        if any(call is None for call in decoded):
            return _native_message("assistant", value)
        calls = [call for call in decoded if call is not None]
    wire: JsonObject = {"role": "assistant"}
    f.set_if_present(wire, "content", content)
    f.set_if_present(wire, "tool_calls", calls)
    name = f.optional_string(value, "name", f"{WHERE} assistant message")
    f.set_if_present(wire, "name", name)
    return DecodedMessage(wire, "assistant")


def _tool_message(value: JsonObject) -> DecodedMessage:
    if "content" not in value:
        raise RequestDecodeError(f"{WHERE} tool message is missing content")
    content = decode_content(value["content"])
    call_id = f.required_str(value, "tool_call_id", f"{WHERE} tool message is missing tool_call_id")
    return DecodedMessage({"role": "tool", "content": content, "tool_call_id": call_id}, "tool")


def _function_message(value: JsonObject) -> DecodedMessage:
    content = f.optional_string(value, "content", f"{WHERE} function message")
    name = f.required_str(value, "name", f"{WHERE} function message is missing name")
    return DecodedMessage({"role": "function", "content": content, "name": name}, "function")


def decode_tool(value: Any) -> JsonObject:
    if not isinstance(value, dict):
        raise RequestDecodeError(f"{WHERE} tool must be an object")
    if value.get("type") != "function":
        return {"type": "provider_native", **f.native_wire(PROVIDER, f.type_tag(value), value)}
    function = value.get("function")
    if not isinstance(function, dict):
        raise RequestDecodeError(f"{WHERE} function tool is missing function")
    wire = function_wire(function, f"{WHERE} function tool")
    return {"type": "function", "function": wire, **f.object_without(value, ("type", "function"))}


def function_wire(function: JsonObject, where: str, also_skip: tuple[str, ...] = ()) -> JsonObject:
    """``FunctionDefinition``: a null ``parameters`` is kept (``Some(Value::Null)``)."""
    name = f.required_str(function, "name", f"{where} is missing name")
    description = f.optional_string(function, "description", where)
    strict = f.optional_bool(function, "strict", where)
    wire: JsonObject = {"name": name}
    f.set_if_present(wire, "description", description)
    if "parameters" in function:
        wire["parameters"] = function["parameters"]
    f.set_if_present(wire, "strict", strict)
    wire.update(f.object_without(function, (*_FUNCTION_FIELDS, *also_skip)))
    return wire


def decode_tools(value: Any) -> list[JsonObject]:
    if not f.is_array(value):
        raise RequestDecodeError(f"{WHERE} tools must be an array")
    return [decode_tool(tool) for tool in value]


def decode_messages(body: Mapping[str, Any]) -> Any:
    if "messages" not in body:
        raise RequestDecodeError(f"{WHERE} request is missing messages")
    messages = body["messages"]
    if not f.is_array(messages):
        raise RequestDecodeError(f"{WHERE} messages must be an array")
    return messages


def _tool_choice(value: Any) -> Any:
    if isinstance(value, str) and value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return {"type": "function", "function": {"name": function["name"]}}
    return f.native_wire(PROVIDER, "tool_choice", value)


def _stop(body: Mapping[str, Any]) -> list[str] | None:
    stop = body.get("stop")
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if f.is_array(stop):
        return f.string_list(stop, "OpenAI Chat stop")
    raise RequestDecodeError(f"{WHERE} stop must be a string, array, or null")


def decode_fields(body: Mapping[str, Any]) -> JsonObject:
    """Every annotated member besides messages, model and tools."""
    temperature = f.optional_f64(body, "temperature", WHERE)
    top_p = f.optional_f64(body, "top_p", WHERE)
    stop = _stop(body)
    completion_tokens = f.optional_u64(body, "max_completion_tokens", WHERE)
    max_tokens = f.optional_u64(body, "max_tokens", WHERE)
    if completion_tokens is not None:
        max_tokens = completion_tokens
    fields: JsonObject = {}
    f.set_if_present(fields, "params", f.params_wire(temperature, max_tokens, top_p, stop))
    if "tool_choice" in body:
        fields["tool_choice"] = _tool_choice(body["tool_choice"])
    f.set_if_present(fields, "store", f.optional_bool(body, "store", WHERE))
    f.set_if_present(fields, "user", f.optional_string(body, "user", WHERE))
    f.set_if_present(fields, "metadata", f.optional_object(body, "metadata", WHERE))
    f.set_if_present(fields, "service_tier", f.optional_string(body, "service_tier", WHERE))
    parallel = f.optional_bool(body, "parallel_tool_calls", WHERE)
    f.set_if_present(fields, "parallel_tool_calls", parallel)
    f.set_if_present(fields, "top_logprobs", f.optional_u64(body, "top_logprobs", WHERE))
    f.set_if_present(fields, "stream", f.optional_bool(body, "stream", WHERE))
    fields["api_specific"] = _api_specific(body)
    fields.update(f.object_without(body, MODELED_KEYS))
    return fields


_API_OBJECTS = (
    "audio",
    "logit_bias",
    "moderation",
    "prediction",
    "prompt_cache_options",
    "response_format",
    "stream_options",
    "web_search_options",
)
_API_STRINGS = (
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning_effort",
    "safety_identifier",
    "verbosity",
)


def _api_specific(body: Mapping[str, Any]) -> JsonObject:
    api: JsonObject = {"api": PROVIDER}
    for name in _API_OBJECTS:
        f.set_if_present(api, name, f.optional_object(body, name, WHERE))
    for name in _API_STRINGS:
        f.set_if_present(api, name, f.optional_string(body, name, WHERE))
    for name in ("frequency_penalty", "presence_penalty"):
        f.set_if_present(api, name, f.optional_f64(body, name, WHERE))
    f.set_if_present(api, "logprobs", f.optional_bool(body, "logprobs", WHERE))
    f.set_if_present(api, "n", f.optional_u64(body, "n", WHERE))
    f.set_if_present(api, "seed", f.optional_i64(body, "seed", WHERE))
    if "function_call" in body:
        api["function_call"] = body["function_call"]
    functions = body.get("functions")
    if functions is not None:
        if not f.is_array(functions):
            raise RequestDecodeError(f"{WHERE} functions must be an array or null")
        api["functions"] = list(functions)
    modalities = body.get("modalities")
    if modalities is not None:
        api["modalities"] = f.string_list(modalities, "OpenAI Chat modalities")
    return api
