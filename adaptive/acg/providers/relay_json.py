"""JSON values as NeMo Relay holds them (``serde_json::Value`` without ``preserve_order``).

Two NeMo Relay habits decide the exact body a provider receives:

* every object is a ``BTreeMap``, so the body handed to the provider callable
  has its keys sorted at every level, whatever the caller's order and whether
  or not ACG touched it (``relay_key_order`` reproduces that);
* a canonicalized part (a tool schema, a content block) is written as RFC 8785
  text and parsed back, so its numbers change type: ``1.0`` comes back as the
  integer ``1`` and ``1e20`` as the float ``1e+20`` (``serde_loads``).
"""

from __future__ import annotations

import json
from typing import Any

from adaptive.acg.canonical import canonical_json

_U64_LIMIT = 2**64
_I64_MIN = -(2**63)


def _serde_int(text: str) -> int | float:
    """serde_json keeps an integer literal that fits u64/i64 and reads any other as f64."""
    value = int(text)
    if _I64_MIN <= value < _U64_LIMIT:
        return value
    return _finite_float(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number out of range: {text}")
    return value


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


_DECODER = json.JSONDecoder(
    parse_int=_serde_int, parse_float=_finite_float, parse_constant=_reject_constant
)


def serde_loads(text: str) -> Any:
    """Parse JSON text the way ``serde_json::from_str`` builds a ``Value``.

    Raises ``ValueError`` for text serde_json refuses: ``NaN``/``Infinity``,
    numbers beyond f64, lone surrogate escapes.
    """
    value = _DECODER.decode(text)
    if ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(value):
        raise ValueError("lone surrogate in JSON string")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def canonical_reparse(value: Any) -> Any:
    """A value after NeMo Relay canonicalized it (RFC 8785) and parsed the text back."""
    return serde_loads(canonical_json(value))


def relay_key_order(value: Any) -> Any:
    """A deep copy with every object's keys sorted, as the provider callable receives it.

    ``json.dumps(relay_key_order(body))`` equals ``json.dumps(body, sort_keys=True)``;
    use this when the bytes must match without ``sort_keys``.
    """
    if isinstance(value, dict):
        return {key: relay_key_order(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [relay_key_order(item) for item in value]
    return value
