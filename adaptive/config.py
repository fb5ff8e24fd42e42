"""AdaptiveConfig: NeMo Relay's adaptive plugin config, plus our storage and drain knobs.

Sources, later ones winning: defaults, a TOML file (either an adaptive config
on its own, or a NeMo Relay ``plugins.toml`` whose ``[components.config]``
table is read as is), then environment variables:

=======================  =============================================
``ADAPTIVE_CONFIG``      path of the TOML file when none is given
``ADAPTIVE_BACKEND``     backend URL (``memory://``, ``sqlite:///a.db``, ...)
``ADAPTIVE_AGENT_ID``    agent id runs are attributed to
``ADAPTIVE_LEARNERS``    comma-separated learner names
``ADAPTIVE_TRANSPORT``   transport URL (``redis+streams://...``): learn out of process
=======================  =============================================
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adaptive.errors import ConfigError

logger = logging.getLogger(__name__)

LEARNER_NAMES = ("tool_parallelism", "latency_sensitivity", "acg")
DEFAULT_HINTS_HEADER = "x-nemo-flow-adaptive-agent-hints"


class _Section(BaseModel):
    """Config sections keep unknown fields so they can be reported, not lost."""

    model_config = ConfigDict(extra="allow")


class BackendKind(StrEnum):
    MEMORY = "memory"
    SQLITE = "sqlite"
    POSTGRES = "postgres"
    REDIS = "redis"
    TIERED = "tiered"


_KIND_ALIASES = {"in_memory": "memory", "postgresql": "postgres"}


DEFAULT_BACKEND_URL = "sqlite:///./adaptive.db"
"""The embedded default: a SQLite file in the working directory, created on first use."""


class BackendSpec(_Section):
    """Which backend to use: a kind plus kind-specific settings (``url``, ...)."""

    kind: BackendKind = BackendKind.SQLITE
    config: dict[str, Any] = Field(default_factory=dict)
    """Kind-specific settings; ``url`` names the database (SQLite defaults to
    ``DEFAULT_BACKEND_URL``), ``auto_upgrade`` lets PostgreSQL migrate itself."""

    @field_validator("kind", mode="before")
    @classmethod
    def _accept_aliases(cls, value: Any) -> Any:
        return _KIND_ALIASES.get(value, value) if isinstance(value, str) else value

    @classmethod
    def from_url(cls, url: str) -> BackendSpec:
        """Name a backend by one URL; query parameters become settings."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        options: dict[str, Any] = dict(parse_qsl(parts.query))
        if scheme in {"memory", "in_memory"}:
            return cls(kind=BackendKind.MEMORY, config=options)
        if scheme.startswith("sqlite"):
            return cls(kind=BackendKind.SQLITE, config={"url": url, **options})
        if scheme.startswith("postgres"):
            return cls(kind=BackendKind.POSTGRES, config={"url": url})
        if scheme in {"redis", "rediss", "unix", "redis+cluster", "rediss+cluster"}:
            return cls(kind=BackendKind.REDIS, config={"url": url, **options})
        raise ConfigError(
            f"unknown backend URL scheme {parts.scheme!r} in {url!r}; use memory://, "
            "sqlite:///path.db, postgresql://user@host/db, redis://host:6379/0 or "
            "redis+cluster://host:7000,host2:7001/?key_prefix={nemo_relay}:"
        )


class StateConfig(_Section):
    backend: BackendSpec = Field(default_factory=BackendSpec)


class TelemetryConfig(_Section):
    subscriber_name: str | None = None
    learners: list[str] = Field(default_factory=lambda: list(LEARNER_NAMES))

    @field_validator("learners")
    @classmethod
    def _known_learners(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in LEARNER_NAMES]
        if unknown:
            raise ValueError(f"unknown learner(s) {unknown}; known: {', '.join(LEARNER_NAMES)}")
        return names


class AdaptiveHintsConfig(_Section):
    priority: int = 100
    break_chain: bool = False
    inject_header: bool = True
    header_name: str = DEFAULT_HINTS_HEADER
    inject_body_path: str = "nvext.agent_hints"


class ToolParallelismMode(StrEnum):
    OBSERVE_ONLY = "observe_only"
    INJECT_HINTS = "inject_hints"
    SCHEDULE = "schedule"


class ToolParallelismConfig(_Section):
    priority: int = 100
    mode: ToolParallelismMode = ToolParallelismMode.OBSERVE_ONLY


class StabilityThresholdsConfig(_Section):
    stable_threshold: float = Field(0.95, ge=0.0, le=1.0)
    semi_stable_threshold: float = Field(0.50, ge=0.0, le=1.0)
    min_observations_for_full_confidence: int = Field(20, ge=1)


class AcgConfig(_Section):
    provider: str = "passthrough"
    observation_window: int = Field(100, ge=1)
    priority: int = 50
    stability_thresholds: StabilityThresholdsConfig = Field(
        default_factory=StabilityThresholdsConfig
    )


class PolicyConfig(_Section):
    unknown_component: str = "warn"
    unknown_field: str = "warn"
    unsupported_value: str = "error"


class DrainConfig(_Section):
    """Micro-batching and buffering of the drain (ours; NeMo Relay has none)."""

    batch_size: int = Field(64, ge=1)
    max_batch_size: int = Field(256, ge=1)
    batch_latency_ms: float = Field(500.0, ge=0.0)
    """At a trickle a unit waits this long for runs: its fixed cost (learner state, round
    trips) is then paid a few times a second, not twenty (measured: benchmarks/live.py)."""
    queue_size: int = Field(256, ge=1)
    max_buffered_runs: int = Field(10_000, ge=1)
    max_open_runs: int = Field(10_000, ge=1)
    close_timeout_s: float = Field(30.0, gt=0.0)
    give_up_after_s: float | None = Field(None, gt=0.0)
    """Stop retrying storage after an outage this long (``None``: never; ingest uses 60 s)."""


class OverflowPolicy(StrEnum):
    """What publishing does with a completed run when the local buffer is full."""

    WAIT = "wait"
    """Take no more events until there is room: ``emit`` waits (the bridge queues events)."""
    DROP = "drop"
    """Drop the run, count it, log it, and report it at close; memory stays bounded."""


class TransportConfig(_Section):
    """Learning out of process (ours): where completed runs are published.

    ``url`` unset (the default) learns in this process. With
    ``redis+streams://host:6379/0?stream=adaptive:runs`` (or
    ``redis+streams+cluster://h1:7000,h2:7001/?stream={adaptive}:runs``) the
    runtime assembles runs and publishes them; ``adaptive worker`` processes
    learn and store them.
    """

    url: str | None = None
    max_backlog: int = Field(100_000, ge=1)
    """Stream entries not yet acknowledged by every consumer group before publishing
    waits (the stream is trimmed only below what every group acknowledged)."""
    overflow: OverflowPolicy = OverflowPolicy.WAIT
    """When ``drain.max_buffered_runs`` runs wait to be published (Redis down, backlog full)."""
    publish_latency_ms: float = Field(50.0, ge=0.0)
    """The agent publishes a batch when its oldest run waited this long (replaces
    ``drain.batch_latency_ms``: a publish is one cheap round trip)."""
    worker_batch_latency_ms: float = Field(250.0, ge=0.0)
    """Workers: a unit waits this long for more runs (or ``drain.batch_size`` of them)."""
    refresh_interval_ms: float = Field(250.0, ge=0.0)
    """Hot-cache refreshes after workers' commit notices: at most one per interval."""
    claim_idle_s: float = Field(30.0, gt=0.0)
    """Workers: entries idle this long in another worker's hands (it died) are claimed."""
    max_deliveries: int = Field(5, ge=1)
    """Workers: an entry delivered this many times without being committed is dead-lettered."""


class MetricsConfig(_Section):
    """Prometheus metrics of the runtime (ours); ``runtime.metrics.registry`` always has them."""

    port: int | None = Field(None, ge=0, le=65535)
    """Serve ``/metrics`` on this port (0: any free port) while the runtime runs."""
    host: str = "127.0.0.1"


class AdaptiveConfig(_Section):
    """The whole configuration of an ``AdaptiveRuntime``."""

    version: int = 1
    agent_id: str | None = None
    state: StateConfig = Field(default_factory=StateConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    adaptive_hints: AdaptiveHintsConfig = Field(default_factory=AdaptiveHintsConfig)
    tool_parallelism: ToolParallelismConfig = Field(default_factory=ToolParallelismConfig)
    acg: AcgConfig = Field(default_factory=AcgConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    drain: DrainConfig = Field(default_factory=DrainConfig)
    transport: TransportConfig = Field(default_factory=TransportConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    sensitivity_scale: int = Field(5, ge=1)

    @property
    def backend(self) -> BackendSpec:
        return self.state.backend

    def with_backend_url(self, url: str) -> AdaptiveConfig:
        return self.model_copy(
            update={"state": StateConfig(backend=BackendSpec.from_url(url))}, deep=True
        )

    def with_transport_url(self, url: str | None) -> AdaptiveConfig:
        """A copy that publishes runs to ``url`` (``None``: learn in this process)."""
        transport = self.transport.model_copy(update={"url": url})
        return self.model_copy(update={"transport": transport})

    def unknown_fields(self) -> list[str]:
        """Dotted names of fields no section knows (typos, newer NeMo Relay fields)."""
        return sorted(_unknown_fields(self, ""))


def _unknown_fields(model: BaseModel, prefix: str) -> Iterator[str]:
    for name in model.model_extra or {}:
        yield f"{prefix}{name}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, _Section) and not isinstance(model, BackendSpec):
            yield from _unknown_fields(value, f"{prefix}{name}.")


def adaptive_table(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The adaptive config inside a TOML document.

    Accepts a NeMo Relay ``plugins.toml`` (the ``config`` table of the
    component whose ``kind`` is ``adaptive``), a document with an
    ``[adaptive]`` table, or an adaptive config at the top level.
    """
    components = document.get("components")
    if isinstance(components, list):
        adaptive = [c for c in components if isinstance(c, dict) and c.get("kind") == "adaptive"]
        if not adaptive:
            raise ConfigError('plugins.toml has no component with kind = "adaptive"')
        config = adaptive[-1].get("config", {})
        return config if isinstance(config, dict) else {}
    if isinstance(components, dict) and isinstance(components.get("config"), dict):
        return dict(components["config"])
    if isinstance(document.get("adaptive"), dict):
        return dict(document["adaptive"])
    return document


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> AdaptiveConfig:
    """Build the configuration from a TOML file (optional) and the environment."""
    env = os.environ if env is None else env
    path = path if path is not None else env.get("ADAPTIVE_CONFIG") or None
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as handle:
                data = dict(adaptive_table(tomllib.load(handle)))
        except FileNotFoundError as error:
            raise ConfigError(f"config file not found: {path}") from error
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
    try:
        config = AdaptiveConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"invalid adaptive configuration{_source(path)}:\n{error}") from error
    config = apply_env_overrides(config, env)
    _report_unknown_fields(config, path)
    return config


def apply_env_overrides(config: AdaptiveConfig, env: Mapping[str, str]) -> AdaptiveConfig:
    if url := env.get("ADAPTIVE_BACKEND"):
        config = config.with_backend_url(url)
    if agent_id := env.get("ADAPTIVE_AGENT_ID"):
        config = config.model_copy(update={"agent_id": agent_id})
    if learners := env.get("ADAPTIVE_LEARNERS"):
        config = with_learners(config, learners)
    if transport := env.get("ADAPTIVE_TRANSPORT"):
        config = config.with_transport_url(transport)
    return config


def with_learners(config: AdaptiveConfig, names: str) -> AdaptiveConfig:
    """A copy of the config with learners given as ``"a,b,c"``."""
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    try:
        telemetry = TelemetryConfig.model_validate(
            {**config.telemetry.model_dump(), "learners": wanted}
        )
    except ValidationError as error:
        raise ConfigError(str(error.errors(include_url=False)[0]["msg"])) from error
    return config.model_copy(update={"telemetry": telemetry})


def _source(path: str | Path | None) -> str:
    return f" in {path}" if path is not None else ""


def _report_unknown_fields(config: AdaptiveConfig, path: str | Path | None) -> None:
    unknown = config.unknown_fields()
    if not unknown:
        return
    message = f"unknown adaptive config field(s){_source(path)}: {', '.join(unknown)}"
    if config.policy.unknown_field == "error":
        raise ConfigError(message)
    if config.policy.unknown_field != "ignore":
        logger.warning(message)
