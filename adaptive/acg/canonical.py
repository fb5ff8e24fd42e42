"""Canonical text forms that make equal prompts hash equally.

Cache stability is judged by comparing hashes across requests, so two
requests that differ only in JSON key order, number spelling or incidental
whitespace must produce byte-identical text. The forms here reproduce NeMo
Relay's (``serde_json_canonicalizer`` for RFC 8785, its own whitespace rule)
so that hashes computed here match hashes NeMo Relay stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import rfc8785

from adaptive.acg.errors import CanonicalizationError
from adaptive.acg.fast_canonical import fast_dumps

# Rust's ``char::is_whitespace`` (the Unicode White_Space property). Python's
# ``str.isspace`` also accepts U+001C..U+001F, which Rust keeps as content.
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_HORIZONTAL_SPACE = _WHITE_SPACE.replace("\n", "")
_SPACE_BEFORE_NEWLINE = re.compile(f"[{re.escape(_HORIZONTAL_SPACE)}]+(?=\n)")
_SPACE_RUN = re.compile(f"[{re.escape(_HORIZONTAL_SPACE)}]+")


def canonical_json(value: Any, *, unique_levels: int = 0) -> str:
    """RFC 8785 text of a JSON value, numbers treated as IEEE doubles.

    NeMo Relay's canonicalizer writes every integer through ``f64``; the
    ``rfc8785`` package refuses integers beyond 2**53 instead, so those are
    widened to floats first (same rounding as Rust's ``as f64``).

    Prompts repeat most of their parts (system prompt, tool schemas, earlier
    turns), so objects and arrays are canonicalized part by part through a
    bounded memo: RFC 8785 text of a container is its members' texts in a
    fixed order and syntax, so composing memoized parts gives the same bytes.
    ``unique_levels`` skips the memo for that many outer levels, for values
    whose outer containers are unique anyway (a whole request, and its list of
    messages, differ in the newest turn while the turns themselves repeat).
    """
    try:
        return _MEMO.canonical(value, unique_levels)
    except (rfc8785.CanonicalizationError, RecursionError, ValueError, TypeError) as error:
        raise CanonicalizationError(f"cannot canonicalize JSON: {error}") from error


def _canonical_scalar(value: Any) -> str:
    try:
        return rfc8785.dumps(value).decode("utf-8")
    except rfc8785.IntegerDomainError:
        return rfc8785.dumps(float(value)).decode("utf-8")


def _utf16_order(key: str) -> bytes:
    """RFC 8785 sorts member names by their UTF-16 code units."""
    return key.encode("utf-16-be")


class _CanonicalMemo:
    """Bounded memo of canonical text for containers, keyed by an exact C-speed dump.

    The key is the value's plain JSON dump, which is injective on JSON values
    (it keeps int and float apart and writes floats with round-trip precision),
    so equal keys mean equal values; key order is not normalized, which only
    costs a miss. Large values are not remembered, and the memo is
    emptied when full, so its memory stays bounded.
    """

    def __init__(self, max_entries: int = 4096, max_key_chars: int = 65_536) -> None:
        self.max_entries = max_entries
        self.max_key_chars = max_key_chars
        self._texts: dict[str, str] = {}
        self._strings: dict[str, str] = {}

    def canonical(self, value: Any, unique_levels: int = 0) -> str:
        if isinstance(value, str):
            return self._string(value)
        if not isinstance(value, dict | list | tuple):
            return _canonical_scalar(value)
        if unique_levels > 0:
            return self.compose(value, unique_levels - 1)
        key = _dump_key(value)
        text = self._texts.get(key)
        if text is None:
            fast = fast_dumps(value)
            text = fast.decode("utf-8") if fast is not None else self.compose(value)
            if len(key) <= self.max_key_chars:
                if len(self._texts) >= self.max_entries:
                    self._texts.clear()
                self._texts[key] = text
        return text

    def _string(self, value: str) -> str:
        text = self._strings.get(value)
        if text is None:
            text = _canonical_scalar(value)
            if len(value) <= self.max_key_chars:
                if len(self._strings) >= self.max_entries:
                    self._strings.clear()
                self._strings[value] = text
        return text

    def compose(
        self, value: dict[Any, Any] | list[Any] | tuple[Any, ...], unique_levels: int = 0
    ) -> str:
        if isinstance(value, dict):
            if not all(isinstance(name, str) for name in value):
                raise TypeError("object member names must be strings")
            members = (
                f"{self._string(name)}:{self.canonical(value[name], unique_levels)}"
                for name in sorted(value, key=_utf16_order)
            )
            return "{" + ",".join(members) + "}"
        return "[" + ",".join(self.canonical(item, unique_levels) for item in value) + "]"


_dump_key = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_MEMO = _CanonicalMemo()


def normalize_whitespace(text: str) -> str:
    """Trim, keep every newline, and reduce other whitespace runs to one space.

    Whitespace directly before a newline disappears, so trailing spaces on a
    line never split two otherwise identical prompts; whitespace after a
    newline (indentation) becomes a single space.
    """
    trimmed = text.strip(_WHITE_SPACE)
    if not trimmed:
        return ""
    without_line_ends = _SPACE_BEFORE_NEWLINE.sub("", trimmed)
    return _SPACE_RUN.sub(" ", without_line_ends)


def sha256_hex(text: str) -> str:
    """``sha256:`` followed by the lowercase hex SHA-256 of the UTF-8 text."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
