"""What may be cached, for how long, and when to run live anyway.

Tool classes resolve as in NeMo Relay 0.10.4: an exact class member wins over
any wildcard member, the most specific wildcard wins among wildcards, and an
override (exact key first, then the most specific wildcard key) refines the
class field by field. Responses that are errors or unfinished never replay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from adaptive.cache.config import ResponseCacheConfig, ToolCacheConfig, ToolClass, ToolOverride
from adaptive.cache.patterns import best_wildcard

UNFINISHED_STATUSES = frozenset(
    {"failed", "cancelled", "canceled", "incomplete", "in_progress", "queued"}
)


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    cacheable: bool
    ttl_ms: int
    bypass_rate: float
    arg_skip: list[str]
    tool_version: str | None


def resolve_class(name: str, tools: ToolCacheConfig) -> ToolClass:
    ordered = sorted(tools.classes.items())
    for _, cls in ordered:
        if any("*" not in member and member == name for member in cls.members):
            return cls
    candidates = ((member, cls) for _, cls in ordered for member in cls.members)
    found = best_wildcard(candidates, name)
    return found if found is not None else tools.default


def resolve_override(name: str, tools: ToolCacheConfig) -> ToolOverride | None:
    exact = tools.overrides.get(name)
    if exact is not None:
        return exact
    return best_wildcard(sorted(tools.overrides.items()), name)


def resolve_tool_policy(
    name: str, config: ResponseCacheConfig, tools: ToolCacheConfig
) -> ToolPolicy:
    cls = resolve_class(name, tools)
    over = resolve_override(name, tools) or ToolOverride()
    ttl_seconds = _first(over.ttl_seconds, cls.ttl_seconds, config.ttl_seconds)
    return ToolPolicy(
        cacheable=_first(over.cacheable, cls.cacheable),
        ttl_ms=ttl_seconds * 1000,
        bypass_rate=_first(over.bypass_rate, cls.bypass_rate, config.bypass_rate),
        arg_skip=list(over.arg_skip if over.arg_skip is not None else cls.arg_skip),
        tool_version=over.tool_version if over.tool_version is not None else cls.tool_version,
    )


def _first(*values: Any) -> Any:
    return next(value for value in values if value is not None)


class BypassSampler:
    """Draws the ``bypass_rate`` coin: a sampled call runs live and refreshes its entry."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def sampled(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        return rate >= 1.0 or self._random.random() < rate


def is_error_response(response: Any) -> bool:
    """Not a complete, replayable answer (``error: null`` is fine: Responses bodies carry it)."""
    if not isinstance(response, dict):
        return False
    if response.get("error") is not None:
        return True
    return response.get("status") in UNFINISHED_STATUSES


def is_error_shaped_tool_result(result: Any) -> bool:
    """The conventional in-band tool error signals; stored only when ``cache_errors`` is set."""
    if not isinstance(result, dict):
        return False
    return (
        result.get("error") is not None
        or result.get("isError") is True
        or result.get("is_error") is True
    )


def request_model(body: Any) -> str | None:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None
