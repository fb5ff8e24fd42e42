"""Response cache: serve a repeated deterministic LLM call or classified tool call from a store.

It keys, stores and replays exactly as NeMo Relay 0.10.4's ``response_cache``
section does (same keys, same Redis entries), and adds a cross-process
single-flight and per-model/per-tool savings so one shared cache pays once.

Names are loaded on first use: ``adaptive.config`` reads the section's
models (``adaptive.cache.config``) without loading the cache itself.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adaptive.cache.config import (
        CacheBackendConfig,
        CacheDiagnostic,
        CacheOptions,
        KeyStrategy,
        ResponseCacheConfig,
        ToolCacheConfig,
        ToolClass,
        ToolOverride,
    )
    from adaptive.cache.facade import ResponseCache
    from adaptive.cache.savings import CacheDecision, CacheSavings, CacheStatus

_EXPORTS = {
    "CacheBackendConfig": "adaptive.cache.config",
    "CacheDiagnostic": "adaptive.cache.config",
    "CacheOptions": "adaptive.cache.config",
    "KeyStrategy": "adaptive.cache.config",
    "ResponseCacheConfig": "adaptive.cache.config",
    "ToolCacheConfig": "adaptive.cache.config",
    "ToolClass": "adaptive.cache.config",
    "ToolOverride": "adaptive.cache.config",
    "ResponseCache": "adaptive.cache.facade",
    "CacheDecision": "adaptive.cache.savings",
    "CacheSavings": "adaptive.cache.savings",
    "CacheStatus": "adaptive.cache.savings",
}

__all__ = [
    "CacheBackendConfig",
    "CacheDecision",
    "CacheDiagnostic",
    "CacheOptions",
    "CacheSavings",
    "CacheStatus",
    "KeyStrategy",
    "ResponseCache",
    "ResponseCacheConfig",
    "ToolCacheConfig",
    "ToolClass",
    "ToolOverride",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
