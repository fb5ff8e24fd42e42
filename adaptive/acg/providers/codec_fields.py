"""Field readers shared by the request decoders, with serde_json's type rules.

NeMo Relay decodes a raw request into ``AnnotatedLlmRequest`` before ACG
looks at it, and a request its codec refuses is left unchanged. These
readers refuse exactly what the Rust helpers refuse (``optional_u64`` takes
no float, ``optional_f64`` takes any number, JSON ``null`` means absent) so
that the same requests are rewritten or left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

JsonObject = dict[str, Any]

_U64_LIMIT = 2**64
_I64_MIN = -(2**63)
_I64_LIMIT = 2**63


class RequestDecodeError(ValueError):
    """NeMo Relay's codec would refuse this request, so ACG leaves it unchanged."""


def is_object(value: Any) -> bool:
    return isinstance(value, dict)


def is_array(value: Any) -> bool:
    return isinstance(value, list | tuple)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_str(value: Any) -> str | None:
    """``Value::as_str``: the string, or None for any other type."""
    return value if isinstance(value, str) else None


def optional_string(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise RequestDecodeError(f"{where} {key} must be a string or null")


def optional_bool(obj: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise RequestDecodeError(f"{where} {key} must be a boolean or null")


def optional_u64(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _U64_LIMIT:
        return value
    raise RequestDecodeError(f"{where} {key} must be a non-negative integer or null")


def optional_i64(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and _I64_MIN <= value < _I64_LIMIT:
        return value
    raise RequestDecodeError(f"{where} {key} must be an integer or null")


def optional_f64(obj: Mapping[str, Any], key: str, where: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if is_number(value):
        return float(value)
    raise RequestDecodeError(f"{where} {key} must be a number or null")


def optional_object(obj: Mapping[str, Any], key: str, where: str) -> JsonObject | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise RequestDecodeError(f"{where} {key} must be an object or null")


def optional_array(obj: Mapping[str, Any], key: str, where: str) -> list[Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if is_array(value):
        return list(value)
    raise RequestDecodeError(f"{where} {key} must be an array or null")


def string_list(value: Any, where: str) -> list[str]:
    """``serde_json::from_value::<Vec<String>>``."""
    if is_array(value) and all(isinstance(item, str) for item in value):
        return list(value)
    raise RequestDecodeError(f"invalid {where} value: expected a sequence of strings")


def required_str(obj: Mapping[str, Any], key: str, message: str) -> str:
    value = obj.get(key)
    if isinstance(value, str):
        return value
    raise RequestDecodeError(message)


def object_without(obj: Mapping[str, Any], excluded: Iterable[str]) -> JsonObject:
    """The members a Rust ``#[serde(flatten)] extra`` map collects."""
    skip = frozenset(excluded)
    return {key: value for key, value in obj.items() if key not in skip}


def set_if_present(target: JsonObject, key: str, value: Any) -> None:
    """``skip_serializing_if = "Option::is_none"``."""
    if value is not None:
        target[key] = value


def params_wire(
    temperature: float | None,
    max_tokens: int | None,
    top_p: float | None,
    stop: list[str] | None,
) -> JsonObject | None:
    """``GenerationParams``, present only when one of its fields is."""
    if temperature is None and max_tokens is None and top_p is None and stop is None:
        return None
    params: JsonObject = {}
    set_if_present(params, "temperature", temperature)
    set_if_present(params, "max_tokens", max_tokens)
    set_if_present(params, "top_p", top_p)
    set_if_present(params, "stop", stop)
    return params


def native_wire(provider: str, kind: str, value: Any) -> JsonObject:
    """A ``ProviderNativeComponent`` (also the payload of the native variants)."""
    return {"provider": provider, "kind": kind, "value": value}


def type_tag(obj: Mapping[str, Any], default: str = "unknown") -> str:
    """``obj.get("type").and_then(as_str).unwrap_or(default)``."""
    tag = obj.get("type")
    return tag if isinstance(tag, str) else default
