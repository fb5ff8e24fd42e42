"""Response cache: serve a repeated deterministic LLM call or classified tool call from a store.

It keys, stores and replays exactly as NeMo Relay 0.10.4's ``response_cache``
section does (same keys, same Redis entries), and adds a cross-process
single-flight and per-model/per-tool savings so one shared cache pays once.
"""

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
