"""Anthropic model families: breakpoint limit, minimum cacheable prompt, cache prices.

NeMo Relay 0.10.4's table, checked live family by family. A model name
resolves to the family it equals, else to the longest family it starts with;
matching is literal, so ``claude-sonnet-4-5-20250929`` resolves to
``claude-sonnet-4`` (1024 tokens), not ``claude-sonnet-4.5``, and
``claude-3-5-sonnet-20241022`` or ``claude-haiku-4-5`` resolve to nothing, in
which case NeMo Relay places no breakpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class CacheEconomics:
    """Input-price multipliers for writing (5 minutes / 1 hour) and reading the cache."""

    write_short_multiplier: float = 1.25
    write_long_multiplier: float | None = 2.0
    read_multiplier: float = 0.1


@dataclass(frozen=True, slots=True)
class ModelFamily:
    name: str
    min_cacheable_tokens: int
    max_cache_breakpoints: int = 4
    economics: CacheEconomics = CacheEconomics()


_FAMILIES = (
    ModelFamily("claude-opus-4.6", 4096),
    ModelFamily("claude-opus-4.5", 4096),
    ModelFamily("claude-opus-4.1", 1024),
    ModelFamily("claude-opus-4", 1024),
    ModelFamily("claude-sonnet-4.6", 2048),
    ModelFamily("claude-sonnet-4.5", 1024),
    ModelFamily("claude-sonnet-4", 1024),
    ModelFamily("claude-haiku-4.5", 4096),
    ModelFamily("claude-haiku-3.5", 2048),
    ModelFamily("claude-3.5-sonnet", 1024),
    ModelFamily("claude-3-opus", 2048),
    ModelFamily("claude-3-haiku", 1024),
)
ANTHROPIC_MODEL_FAMILIES = MappingProxyType({family.name: family for family in _FAMILIES})


@lru_cache(maxsize=1024)
def anthropic_model_family(model: str) -> ModelFamily | None:
    """The family NeMo Relay resolves for a model name (exact, else longest prefix).

    Resolved once per name: every rewrite asks, and the prefix scan is not free.
    """
    family = ANTHROPIC_MODEL_FAMILIES.get(model)
    if family is not None:
        return family
    matches = [
        family for name, family in ANTHROPIC_MODEL_FAMILIES.items() if model.startswith(name)
    ]
    return max(matches, key=lambda family: len(family.name), default=None)
