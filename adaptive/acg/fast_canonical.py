"""RFC 8785 text at C speed, wherever that provably gives the ``rfc8785`` package's bytes.

ACG's learning keys, prompt IR and prefix fingerprints, and the response
cache's keys, hash the RFC 8785 text of JSON values as the ``rfc8785`` package
writes it; those bytes are what NeMo Relay hashes too, so they must never
change. The package is pure Python (about 220 us for a 20-message request).
CPython's C JSON encoder -- sorted keys, compact separators, ``ensure_ascii``
off -- writes exactly the same bytes for a value when:

- every node is exactly a ``dict``, ``list``, ``tuple``, ``str``, ``int``,
  ``float``, ``bool`` or ``None`` (a subclass could override what either writer
  calls: ``items``, ``__iter__``, ``encode``, ``__lt__``);
- every integer lies strictly within +-2**53 (the package refuses the others);
- every float is finite, within +-2**53 (the response cache's bound) and
  either integral -- written as the integer it equals, since RFC 8785 writes
  ``1`` and ``0`` where the C encoder writes ``1.0`` and ``-0.0`` -- or written
  by ``repr`` without an exponent: then ``repr`` is ECMAScript's shortest
  round-trip form, which is what the package derives its text from (exponents
  start below 1e-4 in Python, below 1e-6 in ECMAScript, and are spelled
  differently, so those floats are left to the package);
- no member name holds a character beyond U+FFFF: RFC 8785 orders names by
  UTF-16 code units, the C encoder by code points, and the two orders agree
  on the Basic Multilingual Plane;
- no string holds a lone surrogate: the final strict UTF-8 encoding refuses
  it, as the package does.

String escapes agree without a check: both writers escape exactly ``"``, ``\\``
and U+0000..U+001F (``\\b \\f \\n \\r \\t``, the rest as lowercase ``\\u00xx``)
and write everything else, U+007F and U+2028 included, as UTF-8.

``ready`` checks all of this in one walk and replaces integral floats by
integers, copying only the containers on the way to one; whatever it cannot
vouch for is left to the package. ``tests/acg/test_fast_canonical.py`` checks
byte equality with the package on arbitrary JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

SAFE_INTEGER = 2**53
"""Integers must lie strictly inside +-SAFE_INTEGER, floats inside or on it."""

_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")
_c_dumps = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    sort_keys=True,
    allow_nan=False,
    check_circular=False,
).encode


class Unsure(Exception):
    """The value holds something the C encoder might write differently."""


def ready(value: Any) -> Any:
    """``value`` as the C encoder writes in RFC 8785 form, or ``Unsure``.

    The result is ``value`` itself unless it holds integral floats; those
    become integers in copies of the containers holding them (never in place).
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict:
        return _ready_object(value)
    if kind is list or kind is tuple:
        return _ready_array(value)
    if kind is int:
        if -SAFE_INTEGER < value < SAFE_INTEGER:
            return value
        raise Unsure
    if kind is float:
        return _ready_float(value)
    raise Unsure


def _ready_object(value: dict[Any, Any]) -> dict[str, Any]:
    copy: dict[str, Any] | None = None
    for name, member in value.items():
        if type(name) is not str or (not name.isascii() and _BEYOND_BMP.search(name)):
            raise Unsure
        if type(member) is str:  # most members: nothing to check or convert
            continue
        converted = ready(member)
        if converted is not member:
            if copy is None:
                copy = dict(value)
            copy[name] = converted
    return value if copy is None else copy


def _ready_array(value: list[Any] | tuple[Any, ...]) -> list[Any] | tuple[Any, ...]:
    copy: list[Any] | None = None
    for index, item in enumerate(value):
        if type(item) is str:
            continue
        converted = ready(item)
        if converted is not item:
            if copy is None:
                copy = list(value)
            copy[index] = converted
    return value if copy is None else copy


def _ready_float(value: float) -> float | int:
    if not -SAFE_INTEGER <= value <= SAFE_INTEGER:  # NaN and the infinities fail too
        raise Unsure
    if value.is_integer():
        return int(value)
    if "e" in repr(value):
        raise Unsure
    return value


def fast_dumps(value: Any) -> bytes | None:
    """The RFC 8785 bytes of ``value`` from the C encoder, or ``None`` when unsure."""
    try:
        return _c_dumps(ready(value)).encode("utf-8")
    except (Unsure, ValueError, TypeError, RecursionError):  # UnicodeEncodeError: surrogates
        return None


def dumps(value: Any) -> bytes:
    """Exactly ``rfc8785.dumps(value)`` (same bytes, same errors), fast where possible."""
    fast = fast_dumps(value)
    return fast if fast is not None else rfc8785.dumps(value)
