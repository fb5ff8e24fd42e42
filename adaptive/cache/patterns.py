"""Tool-name patterns of the tool cache: exact, ``*``, ``prefix*``, ``*suffix``, ``*contains*``.

Same grammar, matching and "most specific wins" order as NeMo Relay 0.10.4, so a
tool lands in the same class, with the same override, in both runtimes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, TypeVar

PatternKind = Literal["prefix", "suffix", "contains"]
T = TypeVar("T")


def parse_wildcard(pattern: str) -> tuple[PatternKind, str] | None:
    """The wildcard form of ``pattern``, or ``None`` for an exact name or an unsupported form."""
    if pattern == "*":
        return ("contains", "")
    if len(pattern) >= 2 and pattern.startswith("*") and pattern.endswith("*"):
        inner = pattern[1:-1]
        return ("contains", inner) if inner and "*" not in inner else None
    if pattern.startswith("*"):
        suffix = pattern[1:]
        return ("suffix", suffix) if suffix and "*" not in suffix else None
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        return ("prefix", prefix) if prefix and "*" not in prefix else None
    return None


def is_supported_pattern(pattern: str) -> bool:
    return "*" not in pattern or parse_wildcard(pattern) is not None


def wildcard_matches(pattern: str, name: str) -> bool:
    parsed = parse_wildcard(pattern)
    if parsed is None:
        return "*" not in pattern and pattern == name
    kind, literal = parsed
    if kind == "prefix":
        return name.startswith(literal)
    if kind == "suffix":
        return name.endswith(literal)
    return literal in name


def patterns_overlap(left: str, right: str) -> bool:
    """Whether two wildcard patterns can match a common name (validation's conflict test)."""
    a, b = parse_wildcard(left), parse_wildcard(right)
    if a is None or b is None:
        return False
    if a[0] == b[0] == "prefix":
        return a[1].startswith(b[1]) or b[1].startswith(a[1])
    if a[0] == b[0] == "suffix":
        return a[1].endswith(b[1]) or b[1].endswith(a[1])
    return True


def _outranks(pattern: str, current: str) -> bool:
    """More literal characters win, then fewer stars, then the lexicographically smaller."""
    stars, current_stars = pattern.count("*"), current.count("*")
    mine = (len(pattern) - stars, -stars)
    theirs = (len(current) - current_stars, -current_stars)
    return mine > theirs or (mine == theirs and pattern < current)


def best_wildcard(candidates: Iterable[tuple[str, T]], name: str) -> T | None:
    """The value of the most specific wildcard pattern matching ``name``."""
    best: tuple[str, T] | None = None
    for pattern, value in candidates:
        if "*" not in pattern or not wildcard_matches(pattern, name):
            continue
        if best is None or _outranks(pattern, best[0]):
            best = (pattern, value)
    return best[1] if best is not None else None
