"""How much of a request the provider served from, or wrote to, its prompt cache.

Whether a rewrite pays off shows only in the response's usage, and each API
reports it differently (read / write):

* Anthropic Messages: ``usage.cache_read_input_tokens`` /
  ``usage.cache_creation_input_tokens``;
* OpenAI Chat Completions: ``usage.prompt_tokens_details.cached_tokens`` / none;
* OpenAI Responses: ``usage.input_tokens_details.cached_tokens`` / none;
* NeMo Relay's ``annotated_response``: ``usage.cache_read_tokens`` /
  ``usage.cache_write_tokens``.

The last one is what NeMo Relay 0.10.4 records on the ATOF LLM end event
(``category_profile.annotated_response``) for all three codecs, checked
live: it copies the provider's figures under these two names, omits a
figure the response lacks (OpenAI never has a write figure), and drops the
whole annotation when a figure is not a non-negative integer. Here such a
figure (a string, a bool, a negative or non-finite number, a fractional
one) counts as absent instead, and the rest of the usage is still read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_READ_PATHS = (
    ("cache_read_input_tokens",),
    ("prompt_tokens_details", "cached_tokens"),
    ("input_tokens_details", "cached_tokens"),
    ("cache_read_tokens",),
)
_WRITE_PATHS = (("cache_creation_input_tokens",), ("cache_write_tokens",))


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """Prompt-cache tokens of one response; None where the response does not say."""

    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None


def cache_usage(response: Any) -> CacheUsage:
    """Cache usage of a raw provider response or of NeMo Relay's annotated response."""
    usage = response.get("usage") if isinstance(response, Mapping) else None
    if not isinstance(usage, Mapping):
        return CacheUsage()
    return CacheUsage(_first_count(usage, _READ_PATHS), _first_count(usage, _WRITE_PATHS))


def cache_usage_from_llm_end(event: Mapping[str, Any]) -> CacheUsage:
    """Cache usage recorded on an ATOF LLM end event.

    NeMo Relay's normalized ``annotated_response`` when the codec produced
    one, else the raw provider response the event carries in ``data``.
    """
    profile = event.get("category_profile")
    annotated = profile.get("annotated_response") if isinstance(profile, Mapping) else None
    if isinstance(annotated, Mapping) and isinstance(annotated.get("usage"), Mapping):
        return cache_usage(annotated)
    return cache_usage(event.get("data"))


def _first_count(usage: Mapping[str, Any], paths: tuple[tuple[str, ...], ...]) -> int | None:
    for path in paths:
        count = token_count(_at(usage, path))
        if count is not None:
            return count
    return None


def _at(usage: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = usage
    for name in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def token_count(value: Any) -> int | None:
    """A non-negative whole number of tokens, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    return value if value >= 0 else None
