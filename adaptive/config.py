"""AdaptiveConfig: NeMo Relay's adaptive plugin config, plus our storage and drain knobs.

Sources, later ones winning: defaults, a TOML file, then environment variables:

=======================  =============================================
``ADAPTIVE_CONFIG``      path of the TOML file when none is given
``ADAPTIVE_BACKEND``     backend URL (``memory://``, ``sqlite:///a.db``, ...)
``ADAPTIVE_AGENT_ID``    agent id runs are attributed to
``ADAPTIVE_LEARNERS``    comma-separated learner names
``ADAPTIVE_TRANSPORT``   transport URL (``redis+streams://...``): learn out of process
=======================  =============================================

One model, two ways of reading a table (``ConfigSemantics``), because the same
words mean different things to the two audiences:

- ``ADAPTIVE`` (our own TOML, ``[adaptive]`` tables, URLs, code): every part
  is on unless turned off, with all three learners, so one line
  (``--backend URL``) gives a learning runtime;
- ``RELAY`` (a NeMo Relay ``plugins.toml`` component, and the plugin host):
  NeMo Relay's rules, so a file written for its ``adaptive`` component means
  the same to us: a missing section is off, ``telemetry.learners`` defaults to
  none, telemetry and ACG need ``state``, and hints are looked up as NeMo
  Relay looks them up.

Validation reports NeMo Relay's diagnostics (level, code, message, component,
field): byte-identical where NeMo Relay validates the field, and ours (same
shape, ``adaptive.invalid_value`` and friends) for the values it lets through
and the fields only we have. ``policy`` decides what unknown fields and
unsupported values do (``ignore`` | ``warn`` | ``error``), as in NeMo Relay.
"""

from __future__ import annotations

import copy
import logging
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from adaptive.cache.config import CacheDiagnostic, CacheOptions, ResponseCacheConfig
from adaptive.errors import ConfigError

logger = logging.getLogger(__name__)

LEARNER_NAMES = ("tool_parallelism", "latency_sensitivity", "acg")
RELAY_HINTS_HEADER = "x-nemo-relay-adaptive-agent-hints"
"""The header NeMo Relay 0.10 sends agent hints in (its ``AGENT_HINTS_HEADER_KEY``)."""
DEFAULT_HINTS_HEADER = RELAY_HINTS_HEADER
ADAPTIVE_KIND = "adaptive"
"""NeMo Relay's own adaptive component kind."""
PLUGIN_KIND = "adaptive_runtime"
"""Our component kind in a ``plugins.toml`` (``adaptive.relay.plugin``)."""

I32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Behavior = Literal["ignore", "warn", "error"]
BEHAVIORS: tuple[Behavior, ...] = ("ignore", "warn", "error")


class ConfigSemantics(StrEnum):
    """How a table is read: ours (every part on) or NeMo Relay's (a missing section is off)."""

    ADAPTIVE = "adaptive"
    RELAY = "relay"


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
BACKEND_KINDS = ("in_memory", "sqlite", "postgres", "redis", "tiered")
"""Backend kinds as a ``plugins.toml`` names them (``memory``/``postgresql`` also work)."""

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


MEMORY_BACKEND = BackendSpec(kind=BackendKind.MEMORY)


class StateConfig(_Section):
    backend: BackendSpec = Field(default_factory=BackendSpec)

    @field_validator("backend", mode="before")
    @classmethod
    def _backend_url(cls, value: Any) -> Any:
        """``backend = "postgresql://…"``: a URL names the backend as well as a table does."""
        if not isinstance(value, str):
            return value
        try:
            return BackendSpec.from_url(value)
        except ConfigError as error:
            raise ValueError(str(error)) from None


LearnerName = Literal["tool_parallelism", "latency_sensitivity", "acg"]


def _all_learners() -> list[LearnerName]:
    return ["tool_parallelism", "latency_sensitivity", "acg"]


class TelemetryConfig(_Section):
    subscriber_name: str | None = None
    """Name the event subscriber is registered under (default ``{bridge name}``)."""
    learners: list[LearnerName] = Field(default_factory=_all_learners)


class HintsLookup(StrEnum):
    """Where an LLM call's hints are looked up in the trie.

    ``call_site`` (ours): the path the latency learner records (the LLM call's
    name) and the call's index among that name's calls in its run, so the
    per-call predictions it learned are found. ``relay``: NeMo Relay 0.10.4's,
    the agent/function scope names on the stack and one call counter per
    runtime, which in practice answers from the root; what a drop-in
    replacement of NeMo Relay's component must send.
    """

    CALL_SITE = "call_site"
    RELAY = "relay"


class AdaptiveHintsConfig(_Section):
    priority: I32 = 100
    break_chain: bool = False
    inject_header: bool = True
    header_name: str = Field(DEFAULT_HINTS_HEADER, min_length=1)
    """Ours (NeMo Relay always uses ``x-nemo-relay-adaptive-agent-hints``)."""
    inject_body_path: str = "nvext.agent_hints"
    lookup: HintsLookup = HintsLookup.CALL_SITE
    """Ours; a ``plugins.toml`` component defaults to ``relay``."""


class ToolParallelismMode(StrEnum):
    OBSERVE_ONLY = "observe_only"
    INJECT_HINTS = "inject_hints"
    SCHEDULE = "schedule"


class ToolParallelismConfig(_Section):
    priority: I32 = 100
    mode: ToolParallelismMode = ToolParallelismMode.OBSERVE_ONLY


class AcgProvider(StrEnum):
    """Prompt-cache providers ACG can rewrite requests for."""

    PASSTHROUGH = "passthrough"
    ANTHROPIC = "anthropic"
    OPENAI = "openai"


class StabilityThresholdsConfig(_Section):
    stable_threshold: float = Field(0.95, ge=0.0, le=1.0)
    semi_stable_threshold: float = Field(0.50, ge=0.0, le=1.0)
    min_observations_for_full_confidence: int = Field(20, ge=1)


class AcgConfig(_Section):
    provider: AcgProvider = AcgProvider.PASSTHROUGH
    observation_window: int = Field(100, ge=1)
    priority: I32 = 50
    stability_thresholds: StabilityThresholdsConfig = Field(
        default_factory=StabilityThresholdsConfig
    )


class PolicyConfig(_Section):
    unknown_component: Behavior = "warn"
    unknown_field: Behavior = "warn"
    unsupported_value: Behavior = "error"


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
    """The whole configuration of an ``AdaptiveRuntime``.

    A section set to ``None`` is off, as in NeMo Relay: ``telemetry`` (the
    event subscriber and the learners; also off without ``state``),
    ``adaptive_hints`` (the LLM request intercept), ``tool_parallelism`` (the
    warm-first tool intercept), ``acg`` (its learner; also off without
    ``state``) and ``response_cache``. Built in code or from our own TOML,
    every section but ``response_cache`` is on by default.
    """

    version: int = 1
    agent_id: str | None = None
    state: StateConfig | None = Field(default_factory=StateConfig)
    telemetry: TelemetryConfig | None = Field(default_factory=TelemetryConfig)
    adaptive_hints: AdaptiveHintsConfig | None = Field(default_factory=AdaptiveHintsConfig)
    tool_parallelism: ToolParallelismConfig | None = Field(default_factory=ToolParallelismConfig)
    acg: AcgConfig | None = Field(default_factory=AcgConfig)
    response_cache: ResponseCacheConfig | None = None
    """NeMo Relay's ``response_cache`` section as is (``adaptive.cache``)."""
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    drain: DrainConfig = Field(default_factory=DrainConfig)
    transport: TransportConfig = Field(default_factory=TransportConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    sensitivity_scale: int = Field(5, ge=1)
    response_cache_options: CacheOptions = Field(default_factory=CacheOptions)
    """Our response-cache knobs, kept out of NeMo Relay's section (it would warn of them)."""

    @property
    def backend(self) -> BackendSpec:
        """The state backend; without ``state`` nothing is stored, so memory stands in."""
        return self.state.backend if self.state is not None else MEMORY_BACKEND

    @property
    def learns(self) -> bool:
        """Whether events are subscribed to and learned from: NeMo Relay's telemetry rule."""
        return self.telemetry is not None and self.state is not None

    @property
    def learner_names(self) -> list[str]:
        """The learners that run: none without telemetry; ``acg`` only with its section."""
        if self.telemetry is None or not self.learns:
            return []
        return [name for name in self.telemetry.learners if name != "acg" or self.acg is not None]

    def with_backend_url(self, url: str) -> AdaptiveConfig:
        return self.model_copy(
            update={"state": StateConfig(backend=BackendSpec.from_url(url))}, deep=True
        )

    def switched_off(self) -> AdaptiveConfig:
        """A copy with every part off (a component with ``enabled = false``)."""
        off = dict.fromkeys(RELAY_OPTIONAL_SECTIONS[1:])
        return self.model_copy(update=off)

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


# -- diagnostics -----------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigDiagnostic:
    """One validation finding, shaped like NeMo Relay's ``ConfigDiagnostic``."""

    level: Literal["warning", "error"]
    code: str
    message: str
    component: str | None = None
    field: str | None = None

    def as_relay(self) -> dict[str, str]:
        """NeMo Relay's dict: absent component or field left out, as it leaves them out."""
        shown = {"level": self.level, "code": self.code, "message": self.message}
        if self.component is not None:
            shown["component"] = self.component
        if self.field is not None:
            shown["field"] = self.field
        return shown

    @property
    def where(self) -> str:
        """``component.field`` as far as known: what to change."""
        return ".".join(part for part in (self.component, self.field) if part)

    def __str__(self) -> str:
        where = f" [{self.where}]" if self.where else ""
        return f"{self.level} {self.code}{where}: {self.message}"


@dataclass
class ConfigReport:
    """Diagnostics of one table, and the config they leave (``None`` when errors do)."""

    diagnostics: list[ConfigDiagnostic] = field(default_factory=list)
    config: AdaptiveConfig | None = None

    @property
    def errors(self) -> list[ConfigDiagnostic]:
        return [d for d in self.diagnostics if d.level == "error"]

    @property
    def warnings(self) -> list[ConfigDiagnostic]:
        return [d for d in self.diagnostics if d.level == "warning"]


RELAY_OPTIONAL_SECTIONS = (
    "state",
    "telemetry",
    "adaptive_hints",
    "tool_parallelism",
    "acg",
    "response_cache",
)
"""Sections NeMo Relay leaves off when they are missing (``Option`` in its config)."""
RELAY_DEFAULTS: dict[tuple[str, str], Any] = {
    ("telemetry", "learners"): [],
    ("adaptive_hints", "lookup"): HintsLookup.RELAY.value,
}
"""Where NeMo Relay's defaults inside a present section differ from ours."""

_KNOWN_FIELDS: dict[str, tuple[str, ...]] = {
    "": (
        "version", "agent_id", "state", "telemetry", "adaptive_hints", "tool_parallelism",
        "acg", "response_cache", "policy", "drain", "sensitivity_scale",
        "response_cache_options",
    ),
    "policy": ("unknown_component", "unknown_field", "unsupported_value"),
    "state": ("backend",),
    "backend": ("kind", "config"),
    "telemetry": ("subscriber_name", "learners"),
    "adaptive_hints": (
        "priority", "break_chain", "inject_header", "inject_body_path", "header_name", "lookup",
    ),
    "tool_parallelism": ("priority", "mode"),
    "acg": ("provider", "observation_window", "priority", "stability_thresholds"),
    "acg.stability_thresholds": tuple(StabilityThresholdsConfig.model_fields),
    "drain": tuple(DrainConfig.model_fields),
    "response_cache_options": tuple(CacheOptions.model_fields),
}  # fmt: skip
"""Fields each section knows (NeMo Relay's, then ours), by NeMo Relay's component name."""
_BACKEND_CONFIG_FIELDS: dict[str, tuple[str, ...]] = {
    "in_memory": (),
    "memory": (),
    "redis": ("url", "key_prefix", "max_runs_per_agent", "max_runs", "run_ttl_s"),
    "sqlite": ("url", "auto_upgrade"),
    "postgres": ("url", "auto_upgrade"),
    "postgresql": ("url", "auto_upgrade"),
    "tiered": ("durable", "hot"),
}
_URL_EXAMPLES = {
    BackendKind.REDIS: "redis://127.0.0.1:6379/0",
    BackendKind.POSTGRES: "postgresql://postgres@127.0.0.1/adaptive",
}
_RANGE_ERRORS = {
    "greater_than": "greater than {gt}",
    "greater_than_equal": "at least {ge}",
    "less_than": "less than {lt}",
    "less_than_equal": "at most {le}",
    "string_too_short": "a non-empty string",
    "literal_error": "{expected}",
    "enum": "{expected}",
}
"""Pydantic errors that are a value out of what is allowed, and how to say what is."""


def validate_table(
    table: Any,
    semantics: ConfigSemantics = ConfigSemantics.ADAPTIVE,
    *,
    component: str = ADAPTIVE_KIND,
    document_policy: Mapping[str, Any] | None = None,
) -> ConfigReport:
    """Every diagnostic of an adaptive config table, and the config it gives.

    ``component`` names the table in diagnostics about its top-level fields
    (NeMo Relay says ``adaptive``; our plugin kind is ``adaptive_runtime``).
    ``document_policy`` is a ``plugins.toml``'s own ``[policy]``: its
    non-default values override the component's, as NeMo Relay applies them.
    """
    if not isinstance(table, Mapping):
        return ConfigReport(
            [_invalid(component, None, f"expected a table, got {type(table).__name__}")]
        )
    policy, found = _policy(table, component, document_policy)
    runnable = copy.deepcopy(dict(table))
    if isinstance(runnable.get("policy", {}), Mapping):
        runnable["policy"] = policy.model_dump()  # bad values reported above, defaults run
    found += _unsupported_values(runnable, policy)
    found += _backend_kind(runnable)
    disabled: list[str] = []
    if semantics is ConfigSemantics.RELAY:
        found += _relay_sections(runnable, disabled)
    found += _unknown_field_diagnostics(table, component, policy)
    try:
        config = AdaptiveConfig.model_validate(runnable)
    except ValidationError as error:
        found += [_from_pydantic(detail, component) for detail in error.errors(include_url=False)]
        return ConfigReport(found)
    found += _semantic_checks(config, policy)
    report = ConfigReport(found)
    if not report.errors:
        report.config = config.model_copy(update=dict.fromkeys(disabled))
    return report


def _policy(
    table: Mapping[str, Any], component: str, document: Mapping[str, Any] | None
) -> tuple[PolicyConfig, list[ConfigDiagnostic]]:
    """The policy in force, read leniently: a bad value is reported and the default kept.

    The document's (a ``plugins.toml``'s ``[policy]``) non-default values win
    over the component's, as NeMo Relay's ``apply_global_config_policy`` does.
    """
    found: list[ConfigDiagnostic] = []
    defaults = PolicyConfig().model_dump()
    values = dict(defaults)
    for layer in (table.get("policy"), document):
        if not isinstance(layer, Mapping):
            continue
        for name, default in defaults.items():
            value = layer.get(name)
            if value is None:
                continue
            if value not in BEHAVIORS:
                found.append(
                    _invalid(
                        "policy", name,
                        f"policy.{name}: unknown variant `{value}`, expected one of "
                        "`ignore`, `warn`, `error`",
                    )
                )  # fmt: skip
            elif layer is not document or value != default:
                values[name] = value
    return PolicyConfig(**values), found


def _unsupported_values(table: dict[str, Any], policy: PolicyConfig) -> list[ConfigDiagnostic]:
    """NeMo Relay's policy-controlled values; under ``warn``/``ignore`` the default runs.

    NeMo Relay itself refuses at activation a provider it warned of; we fall
    back to the default instead, which is what ``warn`` promises.
    """
    found: list[ConfigDiagnostic] = []
    level = policy.unsupported_value

    def report(code: str, component: str | None, name: str, message: str) -> None:
        if level != "ignore":
            found.append(ConfigDiagnostic(_level(level), code, message, component, name))

    version = table.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version != 1:
        report(
            "adaptive.unsupported_config_version", None, "version",
            f"adaptive config version {version} is unsupported",
        )  # fmt: skip
        table["version"] = 1
    section = table.get("tool_parallelism")
    mode = section.get("mode") if isinstance(section, dict) else None
    if isinstance(mode, str) and mode not in ToolParallelismMode.__members__.values():
        report(
            "adaptive.unsupported_value", "tool_parallelism", "mode",
            f"tool_parallelism mode '{mode}' is unsupported; expected observe_only, "
            "inject_hints, or schedule",
        )  # fmt: skip
        section["mode"] = ToolParallelismMode.OBSERVE_ONLY.value  # type: ignore[index]
    section = table.get("acg")
    provider = section.get("provider") if isinstance(section, dict) else None
    if isinstance(provider, str) and provider not in AcgProvider.__members__.values():
        report(
            "adaptive.unsupported_value", "acg", "provider",
            f"acg provider '{provider}' is unsupported; expected anthropic, openai, or "
            "passthrough",
        )  # fmt: skip
        section["provider"] = AcgProvider.PASSTHROUGH.value  # type: ignore[index]
    section = table.get("telemetry")
    learners = section.get("learners") if isinstance(section, dict) else None
    if isinstance(learners, list):
        for name in [n for n in learners if isinstance(n, str) and n not in LEARNER_NAMES]:
            report(
                "adaptive.unsupported_value", "telemetry", "learners",
                f"telemetry learner '{name}' is unsupported; expected tool_parallelism, "
                "latency_sensitivity, or acg",
            )  # fmt: skip
            learners.remove(name)
    return found


def _backend_kind(table: dict[str, Any]) -> list[ConfigDiagnostic]:
    """An unknown backend kind: NeMo Relay's code and message, and what is allowed.

    Always an error: NeMo Relay reports it under ``policy.unknown_component``
    and then fails at activation anyway, since nothing runs without its backend.
    """
    state = table.get("state")
    backend = state.get("backend") if isinstance(state, dict) else None
    kind = backend.get("kind") if isinstance(backend, dict) else None
    if not isinstance(kind, str) or kind in _BACKEND_CONFIG_FIELDS:
        return []
    backend["kind"] = BackendKind.MEMORY.value  # type: ignore[index]
    return [
        ConfigDiagnostic(
            "error", "adaptive.unknown_backend",
            f"backend kind '{kind}' is unsupported; expected {_listed(BACKEND_KINDS)} "
            "(or a backend URL)", kind, "kind",
        )
    ]  # fmt: skip


def _relay_sections(table: dict[str, Any], disabled: list[str]) -> list[ConfigDiagnostic]:
    """NeMo Relay's reading: missing sections off, its defaults, nothing learned without state.

    Sections turned off for want of ``state`` are still validated (NeMo Relay
    parses them too); their names are added to ``disabled``.
    """
    found = []
    for name in RELAY_OPTIONAL_SECTIONS:
        table.setdefault(name, None)
    for (section, name), value in RELAY_DEFAULTS.items():
        if isinstance(table.get(section), dict):
            table[section].setdefault(name, copy.deepcopy(value))
    if table["state"] is None:
        for name in ("telemetry", "acg"):
            if table[name] is not None:
                found.append(
                    ConfigDiagnostic(
                        "warning", "adaptive.section_disabled_missing_state",
                        f"{name} requires state backend and will be disabled", name,
                    )
                )  # fmt: skip
                disabled.append(name)
    return found


def _unknown_field_diagnostics(
    table: Mapping[str, Any], component: str, policy: PolicyConfig
) -> list[ConfigDiagnostic]:
    level = policy.unknown_field
    if level == "ignore":
        return []
    found = []
    for section, names in _tables(table):
        known = _KNOWN_FIELDS.get(section) if section else _KNOWN_FIELDS[""]
        if known is None and section.startswith("backend:"):
            section = section.removeprefix("backend:")
            known = _BACKEND_CONFIG_FIELDS.get(section)
        if known is None:
            continue
        shown = section or component
        found += [
            ConfigDiagnostic(
                _level(level), "adaptive.unknown_field",
                f"field '{name}' is not recognized for '{shown}'", shown, name,
            )
            for name in names
            if name not in known
        ]  # fmt: skip
    return found


def _tables(table: Mapping[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """Each table's field names, under NeMo Relay's component name for it.

    The response cache checks its own section (``ResponseCacheConfig``).
    """
    yield "", list(table)
    for name in ("policy", "telemetry", "adaptive_hints", "tool_parallelism", "acg", "drain"):
        section = table.get(name)
        if isinstance(section, Mapping):
            yield name, list(section)
    options = table.get("response_cache_options")
    if isinstance(options, Mapping):
        yield "response_cache_options", list(options)
    acg = table.get("acg")
    thresholds = acg.get("stability_thresholds") if isinstance(acg, Mapping) else None
    if isinstance(thresholds, Mapping):
        yield "acg.stability_thresholds", list(thresholds)
    state = table.get("state")
    if not isinstance(state, Mapping):
        return
    yield "state", list(state)
    backend = state.get("backend")
    if not isinstance(backend, Mapping):
        return
    yield "backend", list(backend)
    settings = backend.get("config")
    if isinstance(settings, Mapping) and isinstance(backend.get("kind"), str):
        yield f"backend:{backend['kind']}", list(settings)


def _semantic_checks(config: AdaptiveConfig, policy: PolicyConfig) -> list[ConfigDiagnostic]:
    """What a parsed config can still get wrong: ranges between fields, URLs, the cache."""
    found = []
    if config.acg is not None:
        limits = config.acg.stability_thresholds
        if limits.semi_stable_threshold > limits.stable_threshold:
            found.append(
                _value(
                    "acg", "stability_thresholds.semi_stable_threshold",
                    f"acg.stability_thresholds.semi_stable_threshold must be at most "
                    f"stable_threshold ({limits.stable_threshold}), got "
                    f"{limits.semi_stable_threshold}",
                )
            )  # fmt: skip
    telemetry = config.telemetry
    if config.learns and telemetry is not None and "acg" in telemetry.learners and not config.acg:
        found.append(
            ConfigDiagnostic(
                "warning", "adaptive.section_disabled_missing_acg",
                "learner 'acg' requires the acg section and will be disabled", "telemetry",
                "learners",
            )
        )  # fmt: skip
    if config.state is not None:
        found += _backend_settings(config.state.backend, "state.backend")
    if config.response_cache is not None:
        cache = (_from_cache(d, policy) for d in config.response_cache.diagnostics())
        found += [d for d in cache if d is not None]
    return found


def _backend_settings(spec: BackendSpec, where: str) -> list[ConfigDiagnostic]:
    """A backend that needs a URL has one, and a tiered backend has both tiers."""
    kind = spec.kind
    example = _URL_EXAMPLES.get(kind)
    url = spec.config.get("url")
    if example is not None and (not isinstance(url, str) or not url.strip()):
        return [
            ConfigDiagnostic(
                "error", "adaptive.missing_backend_url",
                f"{kind.value} backend requires {where}.config.url (or name the backend by "
                f'URL: {where} = "{example}")', kind.value, "url",
            )
        ]  # fmt: skip
    if kind is not BackendKind.TIERED:
        return []
    found = []
    for tier in ("durable", "hot"):
        value = spec.config.get(tier)
        try:
            tier_spec = (
                BackendSpec.from_url(value)
                if isinstance(value, str)
                else BackendSpec.model_validate(value)
            )
        except (ConfigError, ValidationError) as error:
            message = str(error) if isinstance(error, ConfigError) else "not a backend table"
            found.append(
                _value(
                    "tiered", tier,
                    f"a tiered backend needs {where}.config.{tier}: a backend URL "
                    f'(e.g. hot = "redis://127.0.0.1:6379/0", durable = "postgresql://…") '
                    f"or a table; {message}",
                )
            )  # fmt: skip
            continue
        found += _backend_settings(tier_spec, f"{where}.config.{tier}")
    return found


def _from_cache(diagnostic: CacheDiagnostic, policy: PolicyConfig) -> ConfigDiagnostic | None:
    """A response-cache finding; its unknown fields follow the policy like every other."""
    level: Literal["warning", "error"] = diagnostic.level
    if diagnostic.code == "adaptive.unknown_field":
        if policy.unknown_field == "ignore":
            return None
        level = _level(policy.unknown_field)
    return ConfigDiagnostic(
        level, diagnostic.code, diagnostic.message, diagnostic.component, diagnostic.field
    )


def _from_pydantic(detail: ErrorDetails, component: str) -> ConfigDiagnostic:
    """A parse error, named by section and field; a value out of range says what is allowed."""
    loc = [str(part) for part in detail["loc"]]
    section, name = (loc[0], ".".join(loc[1:])) if len(loc) > 1 else (component, ".".join(loc))
    where = ".".join(loc) or component
    allowed = _RANGE_ERRORS.get(detail["type"])
    if allowed is not None:
        what = allowed.format(**(detail.get("ctx") or {}))
        return _value(section, name or None, f"{where} must be {what}, got {detail['input']!r}")
    return _invalid(section, name or None, f"{where}: {detail['msg']}")


def _invalid(component: str, name: str | None, message: str) -> ConfigDiagnostic:
    """NeMo Relay's code for a table it cannot deserialize."""
    return ConfigDiagnostic(
        "error", "adaptive.invalid_plugin_config", f"invalid adaptive plugin config: {message}",
        component, name,
    )  # fmt: skip


def _value(component: str, name: str | None, message: str) -> ConfigDiagnostic:
    """Ours: a value NeMo Relay would take but no runtime can use."""
    return ConfigDiagnostic("error", "adaptive.invalid_value", message, component, name)


def _level(behavior: Behavior) -> Literal["warning", "error"]:
    return "error" if behavior == "error" else "warning"


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}"


# -- loading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigSource:
    """Where a table came from, and how to read it."""

    table: Mapping[str, Any]
    semantics: ConfigSemantics
    component: str = ADAPTIVE_KIND
    """The component kind (NeMo Relay's ``adaptive`` or our ``adaptive_runtime``)."""
    enabled: bool = True
    document_policy: Mapping[str, Any] | None = None
    path: str | None = None

    def validate(self) -> ConfigReport:
        report = validate_table(
            self.table, self.semantics, component=self.component,
            document_policy=self.document_policy,
        )  # fmt: skip
        if report.config is not None and not self.enabled:
            report.config = report.config.switched_off()
        return report


def find_component(document: Mapping[str, Any], path: str | None = None) -> ConfigSource:
    """The adaptive config inside a TOML document, and how to read it.

    A NeMo Relay ``plugins.toml`` (``[[components]]``): our ``adaptive_runtime``
    component, else NeMo Relay's ``adaptive`` one, read with NeMo Relay's
    semantics. A document with an ``[adaptive]`` table, or an adaptive config
    at the top level: ours.
    """
    components = document.get("components")
    if isinstance(components, dict):
        components = [{"kind": ADAPTIVE_KIND, **components}]
    if isinstance(components, list):
        return _component(components, document.get("policy"), path)
    if isinstance(document.get("adaptive"), dict):
        return ConfigSource(document["adaptive"], ConfigSemantics.ADAPTIVE, path=path)
    return ConfigSource(document, ConfigSemantics.ADAPTIVE, path=path)


def _component(components: list[Any], policy: Any, path: str | None) -> ConfigSource:
    tables = [c for c in components if isinstance(c, dict)]
    for kind in (PLUGIN_KIND, ADAPTIVE_KIND):
        chosen = [c for c in tables if c.get("kind") == kind]
        if len(chosen) > 1:
            raise ConfigError(
                f"{path or 'plugins.toml'} has {len(chosen)} components of kind {kind!r}; "
                "NeMo Relay activates one per process: keep one"
            )
        if chosen:
            config = chosen[0].get("config", {})
            return ConfigSource(
                config if isinstance(config, dict) else {},
                ConfigSemantics.RELAY,
                component=kind,
                enabled=chosen[0].get("enabled", True) is not False,
                document_policy=policy if isinstance(policy, dict) else None,
                path=path,
            )
    raise ConfigError(
        f'{path or "plugins.toml"} has no component with kind = "{PLUGIN_KIND}" '
        f'(ours) or kind = "{ADAPTIVE_KIND}" (NeMo Relay\'s)'
    )


def read_source(path: str | Path) -> ConfigSource:
    """The config source a TOML file holds; a missing or broken file is one line."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError as error:
        raise ConfigError(f"config file not found: {path}") from error
    except IsADirectoryError as error:
        raise ConfigError(f"config path {path} is a directory; give a TOML file") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
    return find_component(document, str(path))


def checked(report: ConfigReport, source: str | None = None) -> AdaptiveConfig:
    """The report's config; its warnings are logged, its errors are one ``ConfigError`` line."""
    where = f" in {source}" if source else ""
    if report.config is None:
        listed = "; ".join(
            d.message if not d.where or d.where in d.message else f"{d.where}: {d.message}"
            for d in report.errors
        )
        raise ConfigError(f"invalid adaptive configuration{where}: {listed}")
    for warning in report.warnings:
        logger.warning("adaptive configuration%s: %s", where, warning)
    return report.config


def relay_config(table: Mapping[str, Any], *, component: str = PLUGIN_KIND) -> AdaptiveConfig:
    """A ``plugins.toml`` component's config read as NeMo Relay reads it (the plugin host)."""
    return checked(validate_table(table, ConfigSemantics.RELAY, component=component))


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> AdaptiveConfig:
    """Build the configuration from a TOML file (optional) and the environment."""
    env = os.environ if env is None else env
    path = path if path is not None else env.get("ADAPTIVE_CONFIG") or None
    if path is None:
        config = checked(validate_table({}))
    else:
        source = read_source(path)
        config = checked(source.validate(), str(path))
    return apply_env_overrides(config, env)


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
    """A copy of the config with learners given as ``"a,b,c"`` (turning telemetry on)."""
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in LEARNER_NAMES]
    if unknown:
        raise ConfigError(
            f"unknown learner(s) {', '.join(map(repr, unknown))}; known: {', '.join(LEARNER_NAMES)}"
        )
    telemetry = config.telemetry or TelemetryConfig()
    return config.model_copy(
        update={"telemetry": telemetry.model_copy(update={"learners": wanted})}
    )
