"""Build a storage backend from a ``BackendSpec``."""

from __future__ import annotations

from typing import Any

from adaptive.config import DEFAULT_BACKEND_URL, BackendKind, BackendSpec
from adaptive.errors import ConfigError
from adaptive.storage.memory import MemoryBackend
from adaptive.storage.protocol import StorageBackend


def create_backend(spec: BackendSpec) -> StorageBackend:
    """A backend for the spec, not yet opened."""
    if spec.kind is BackendKind.MEMORY:
        return MemoryBackend()
    if spec.kind in (BackendKind.SQLITE, BackendKind.POSTGRES):
        from adaptive.storage.sql import SqlBackend

        return SqlBackend(backend_url(spec), auto_upgrade=_auto_upgrade(spec.config))
    if spec.kind is BackendKind.REDIS:
        from adaptive.storage.redis import RedisBackend

        return RedisBackend.from_config(spec.config)
    if spec.kind is BackendKind.TIERED:
        from adaptive.storage.tiered import TieredBackend

        return TieredBackend(
            durable=create_backend(_tier(spec, "durable")), hot=create_backend(_tier(spec, "hot"))
        )
    raise ConfigError(f"unknown backend kind {spec.kind.value!r}")


def backend_url(spec: BackendSpec) -> str:
    """The database URL a SQL backend spec names."""
    url = spec.config.get("url")
    if url is None and spec.kind is BackendKind.SQLITE:
        return DEFAULT_BACKEND_URL
    if not isinstance(url, str) or not url:
        raise ConfigError(
            f"backend kind {spec.kind.value!r} needs a url in state.backend.config "
            "(or name the backend by URL: --backend / ADAPTIVE_BACKEND)"
        )
    return url


def _tier(spec: BackendSpec, name: str) -> BackendSpec:
    """A tier of a tiered spec: a backend URL or a ``{kind, config}`` table."""
    tier = spec.config.get(name)
    if isinstance(tier, str):
        return BackendSpec.from_url(tier)
    if isinstance(tier, dict):
        return BackendSpec.model_validate(tier)
    raise ConfigError(
        f"a tiered backend needs state.backend.config.{name}: a backend URL "
        '(e.g. hot = "redis://127.0.0.1:6379/0", durable = "postgresql://…") or a table'
    )


def _auto_upgrade(options: dict[str, Any]) -> bool | None:
    value = options.get("auto_upgrade")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "0", "false", "no"}:
        return value.lower() in {"1", "true", "yes"}
    raise ConfigError(f"state.backend.config.auto_upgrade must be true or false, got {value!r}")
