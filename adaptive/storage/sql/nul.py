"""NUL characters in PostgreSQL: stored losslessly, read back unchanged.

JSON text may carry ``\\u0000`` and agents put it in prompts and names;
SQLite and Redis store it, but PostgreSQL refuses it both in ``text`` columns
(no NUL bytes) and in ``jsonb`` (no ``\\u0000`` escape). So on PostgreSQL every
text value and JSON document is escaped on the way in with a private-use
character, ``MARK`` (U+F8FF): a ``MARK`` in the data is doubled, and NUL
becomes ``MARK`` + ``0``. Reading undoes it. Values with neither character —
almost all of them — pass through untouched, and escaped ones only change
where NUL or U+F8FF was, so SQL users see ordinary text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy.engine import Dialect
from sqlalchemy.types import Text, TypeDecorator

MARK: Final = "\uf8ff"
NUL: Final = "\x00"
_ESCAPED_NUL: Final = MARK + "0"
_JSON_NUL: Final = "\\u0000"
_JSON_NUL_ESCAPE: Final = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
"""``\\u0000`` in JSON text, not preceded by an odd number of backslashes (an escaped ``\\``)."""
_UNESCAPE: Final = re.compile(MARK + "(.)", re.DOTALL)
POSTGRESQL: Final = "postgresql"


def escape_text(value: str) -> str:
    """A text PostgreSQL accepts, from which ``unescape_text`` gives ``value`` back."""
    if NUL not in value and MARK not in value:
        return value
    return value.replace(MARK, MARK + MARK).replace(NUL, _ESCAPED_NUL)


def unescape_text(value: str) -> str:
    if MARK not in value:
        return value
    return _UNESCAPE.sub(lambda match: NUL if match.group(1) == "0" else match.group(1), value)


def escape_json_text(text: str) -> str:
    """Serialized JSON with every string escaped as ``escape_text`` would escape it."""
    if MARK in text:
        text = text.replace(MARK, MARK + MARK)
    if _JSON_NUL in text:
        text = _JSON_NUL_ESCAPE.sub(lambda match: match.group(1) + _ESCAPED_NUL, text)
    return text


def unescape_json(value: Any) -> Any:
    """A parsed JSON document with every string (keys too) unescaped."""
    if isinstance(value, str):
        return unescape_text(value)
    if isinstance(value, dict):
        return {unescape_text(key): unescape_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unescape_json(item) for item in value]
    return value


def json_codec(
    dumps: Callable[[Any], str], loads: Callable[[str | bytes], Any]
) -> tuple[Callable[[Any], str], Callable[[str | bytes], Any]]:
    """PostgreSQL's JSON serializer and deserializer, escaping around ``dumps``/``loads``."""

    def escaped_dumps(value: Any) -> str:
        return escape_json_text(dumps(value))

    def unescaped_loads(text: str | bytes) -> Any:
        document = loads(text)
        mark_in_text = MARK in text if isinstance(text, str) else MARK.encode() in text
        return unescape_json(document) if mark_in_text else document

    return escaped_dumps, unescaped_loads


class NulSafeText(TypeDecorator[str]):
    """``text`` that holds NUL on PostgreSQL too (escaped there, plain elsewhere)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != POSTGRESQL:
            return value
        return escape_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != POSTGRESQL:
            return value
        return unescape_text(value)
