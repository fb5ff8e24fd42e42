"""Provider names as NeMo Relay's ``acg.provider`` accepts them.

0.10.4 accepts exactly ``anthropic``, ``openai`` and ``passthrough``
(case-sensitive); anything else, ``gemini`` included, is rejected at
validation with ``adaptive.unsupported_value``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

from adaptive.acg.providers.anthropic import AnthropicCacheProvider
from adaptive.acg.providers.base import CacheProvider
from adaptive.acg.providers.openai import OpenAICacheProvider
from adaptive.acg.providers.passthrough import PassthroughCacheProvider
from adaptive.errors import ConfigError

PROVIDERS: MappingProxyType[str, Callable[[], CacheProvider]] = MappingProxyType(
    {
        "anthropic": AnthropicCacheProvider,
        "openai": OpenAICacheProvider,
        "passthrough": PassthroughCacheProvider,
    }
)
PROVIDER_NAMES = tuple(PROVIDERS)


def provider_named(name: str) -> CacheProvider:
    """A new provider for an ``acg.provider`` value; keep it and reuse it for every request."""
    factory = PROVIDERS.get(name)
    if factory is None:
        allowed = ", ".join(PROVIDER_NAMES)
        raise ConfigError(f"unknown acg provider {name!r}; set acg.provider to one of: {allowed}")
    return factory()
