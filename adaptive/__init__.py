"""adaptive: learn from AI-agent runs, keep the history, act on what was learned.

The public API, importable from here. Names are loaded on first use, so
``import adaptive`` stays cheap (the command line relies on it); the modules
they come from are given beside each name.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adaptive.analytics.queries import Analytics, Window
    from adaptive.config import AdaptiveConfig, BackendSpec, load_config
    from adaptive.errors import (
        AdaptiveError,
        ConfigError,
        RunsNotStoredError,
        StorageError,
        StorageUnavailableError,
    )
    from adaptive.events.atof import ReadReport, read_events
    from adaptive.events.model import Event
    from adaptive.hot_cache import HotCache
    from adaptive.records import CallRecord, RunRecord
    from adaptive.relay.bridge import RelayBridge
    from adaptive.runtime import AdaptiveRuntime
    from adaptive.storage.factory import create_backend
    from adaptive.storage.protocol import StorageBackend

_EXPORTS = {
    "AdaptiveRuntime": "adaptive.runtime",
    "AdaptiveConfig": "adaptive.config",
    "BackendSpec": "adaptive.config",
    "load_config": "adaptive.config",
    "Event": "adaptive.events.model",
    "ReadReport": "adaptive.events.atof",
    "read_events": "adaptive.events.atof",
    "RunRecord": "adaptive.records",
    "CallRecord": "adaptive.records",
    "HotCache": "adaptive.hot_cache",
    "StorageBackend": "adaptive.storage.protocol",
    "create_backend": "adaptive.storage.factory",
    "RelayBridge": "adaptive.relay.bridge",
    "Analytics": "adaptive.analytics.queries",
    "Window": "adaptive.analytics.queries",
    "AdaptiveError": "adaptive.errors",
    "ConfigError": "adaptive.errors",
    "StorageError": "adaptive.errors",
    "StorageUnavailableError": "adaptive.errors",
    "RunsNotStoredError": "adaptive.errors",
}

__all__ = [
    "AdaptiveConfig",
    "AdaptiveError",
    "AdaptiveRuntime",
    "Analytics",
    "BackendSpec",
    "CallRecord",
    "ConfigError",
    "Event",
    "HotCache",
    "ReadReport",
    "RelayBridge",
    "RunRecord",
    "RunsNotStoredError",
    "StorageBackend",
    "StorageError",
    "StorageUnavailableError",
    "Window",
    "create_backend",
    "load_config",
    "read_events",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
