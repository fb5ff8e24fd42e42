"""The ``response_cache`` section, field for field as NeMo Relay 0.10.4 reads it.

Defaults, types and every validation rule (diagnostic code, field, message)
were checked against the installed ``nemo_relay`` wheel by live
``nemo_relay.adaptive.validate_config`` runs, so one ``plugins.toml`` section
configures both runtimes and is refused by both for the same reasons.
Settings NeMo Relay does not have (single-flight, compression, the entry cap)
live in ``CacheOptions``, outside the shared section.
"""

from __future__ import annotations

from enum import StrEnum
from itertools import combinations
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from adaptive.cache.patterns import is_supported_pattern, patterns_overlap
from adaptive.errors import ConfigError

DEFAULT_TTL_SECONDS = 3600
DEFAULT_PRIORITY = 150
"""LLM and tool execution-intercept priority (NeMo Relay 0.10.4; lower runs first)."""
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_REDIS_KEY_PREFIX = "nemo-relay:llm-cache:"
AUTH_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "anthropic-api-key",
        "x-goog-api-key",
    }
)
"""Headers that must never enter a key (NeMo Relay rejects them in ``header_allowlist``)."""

U64 = Annotated[int, Field(strict=True, ge=0)]
I32 = Annotated[int, Field(strict=True, ge=-(2**31), le=2**31 - 1)]
F64 = Annotated[float, Field(strict=True)]
StrictBool = Annotated[bool, Field(strict=True)]


class KeyStrategy(StrEnum):
    EXACT_REQUEST = "exact_request"
    LOGICAL = "logical"
    """Exact request, but tools keyed on their interface: descriptions and order ignored."""


class CacheDiagnostic(BaseModel):
    """One validation finding, shaped like NeMo Relay's ``ConfigDiagnostic``."""

    model_config = ConfigDict(frozen=True)

    level: Literal["warning", "error"]
    code: str
    component: str
    field: str | None = None
    message: str


class _Section(BaseModel):
    """Unknown fields are kept, so they can be reported as NeMo Relay warns of them."""

    model_config = ConfigDict(extra="allow")


class CacheBackendConfig(_Section):
    """``backend = {kind, config}``: ``in_memory {max_bytes}`` or ``redis {url, key_prefix}``."""

    kind: str = "in_memory"
    config: dict[str, Any] = Field(default_factory=dict)

    @property
    def max_bytes(self) -> int:
        value = self.config.get("max_bytes")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        return DEFAULT_MAX_BYTES

    @property
    def url(self) -> str | None:
        value = self.config.get("url")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def key_prefix(self) -> str:
        value = self.config.get("key_prefix")
        return value if isinstance(value, str) else DEFAULT_REDIS_KEY_PREFIX


class ToolClass(_Section):
    """A named policy for a group of tools (also the shape of ``tools.default``)."""

    cacheable: StrictBool = False
    ttl_seconds: U64 | None = None
    bypass_rate: F64 | None = None
    tool_version: str | None = None
    arg_skip: list[str] = Field(default_factory=list)
    members: list[str] = Field(default_factory=list)


class ToolOverride(_Section):
    """Per-tool refinement after class resolution; ``None`` inherits, ``arg_skip=[]`` clears."""

    cacheable: StrictBool | None = None
    ttl_seconds: U64 | None = None
    bypass_rate: F64 | None = None
    tool_version: str | None = None
    arg_skip: list[str] | None = None


class ToolCacheConfig(_Section):
    """The opt-in tool-result surface: a hit suppresses a real call, so nothing caches unasked."""

    enabled: StrictBool = False
    priority: I32 = DEFAULT_PRIORITY
    cache_errors: StrictBool = False
    default: ToolClass = Field(default_factory=ToolClass)
    classes: dict[str, ToolClass] = Field(default_factory=dict)
    overrides: dict[str, ToolOverride] = Field(default_factory=dict)


class ResponseCacheConfig(_Section):
    """NeMo Relay 0.10.4's ``[components.config.response_cache]`` section."""

    ttl_seconds: U64 = DEFAULT_TTL_SECONDS
    namespace: str = ""
    """Required trust domain; the empty default is a sentinel validation rejects."""
    priority: I32 = DEFAULT_PRIORITY
    bypass_rate: F64 = 0.0
    cache_nondeterministic: StrictBool = False
    key_strategy: str = KeyStrategy.EXACT_REQUEST.value
    """A string, not the enum, so an unsupported value is a diagnostic like NeMo Relay's."""
    header_allowlist: list[str] = Field(default_factory=list)
    backend: CacheBackendConfig = Field(default_factory=CacheBackendConfig)
    tools: ToolCacheConfig | None = None

    @property
    def ttl_ms(self) -> int:
        return self.ttl_seconds * 1000

    @property
    def strategy(self) -> KeyStrategy:
        return KeyStrategy(self.key_strategy)

    def diagnostics(self) -> list[CacheDiagnostic]:
        """Every finding NeMo Relay 0.10.4 reports for this section, in its order."""
        found = _section_errors(self)
        if self.tools is not None:
            found += _tool_errors(self.tools)
        return found + _unknown_field_warnings(self)

    def check(self) -> ResponseCacheConfig:
        """Raise ``ConfigError`` when the section has an error diagnostic; return self."""
        errors = [d for d in self.diagnostics() if d.level == "error"]
        if errors:
            listed = "; ".join(f"{d.field or d.component}: {d.message}" for d in errors)
            raise ConfigError(f"invalid response_cache section: {listed}")
        return self


class CacheOptions(BaseModel):
    """Our settings beyond NeMo Relay's section (NeMo Relay has none of these)."""

    model_config = ConfigDict(extra="forbid")

    single_flight: bool = True
    """Concurrent identical misses (in-process, and across processes on Redis) call once."""
    single_flight_wait_s: float = Field(30.0, gt=0)
    """How long a waiter waits for the leader's result before calling the provider itself."""
    lock_lease_s: float = Field(60.0, gt=0)
    """Redis leader lease: a crashed leader blocks waiters at most this long."""
    poll_interval_s: float = Field(0.01, gt=0)
    """Redis waiters' first poll interval (doubles up to 16x)."""
    max_entry_bytes: int = Field(8 * 1024 * 1024, ge=1)
    """Responses larger than this (serialized) are passed through uncached and counted."""
    compress_min_bytes: int | None = Field(64 * 1024, ge=1)
    """Redis values at least this large are zlib-compressed; ``None`` never compresses.
    NeMo Relay reads only uncompressed entries (it falls back to a live call on the rest)."""
    redis_timeout_s: float = Field(2.0, gt=0)
    """Per-command deadline: a hung Redis degrades to a live call (NeMo Relay uses 2 s)."""
    bypass_seed: int | None = None
    """Seed of the ``bypass_rate`` sampler, for reproducible runs; ``None`` is random."""


# -- validation, one function per NeMo Relay rule group ------------------------------


def _error(code: str, field: str | None, message: str) -> CacheDiagnostic:
    return CacheDiagnostic(
        level="error", code=f"response_cache.{code}", component="response_cache", field=field,
        message=message,
    )  # fmt: skip


def _is_u64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _section_errors(config: ResponseCacheConfig) -> list[CacheDiagnostic]:
    found: list[CacheDiagnostic] = []
    if not config.namespace.strip():
        found.append(
            _error(
                "missing_namespace",
                "namespace",
                "namespace must identify one trusted cache-sharing domain; do not enable one "
                "response cache across mutually untrusted tenants or upstreams",
            )
        )
    if config.ttl_seconds == 0:
        found.append(_error("invalid_ttl", "ttl_seconds", "ttl_seconds must be greater than 0"))
    if not 0.0 <= config.bypass_rate <= 1.0:
        found.append(
            _error("invalid_bypass_rate", "bypass_rate", "bypass_rate must be in [0.0, 1.0]")
        )
    if config.key_strategy not in {s.value for s in KeyStrategy}:
        found.append(
            _error(
                "unsupported_key_strategy",
                "key_strategy",
                f"unsupported key_strategy '{config.key_strategy}'; "
                'supported: "exact_request", "logical"',
            )
        )
    found += [
        _error(
            "auth_header_allowlisted",
            "header_allowlist",
            f"'{name}' is an auth header and must never be folded into cache keys",
        )
        for name in config.header_allowlist
        if name.lower() in AUTH_HEADERS
    ]
    return found + _backend_errors(config.backend)


def _backend_errors(backend: CacheBackendConfig) -> list[CacheDiagnostic]:
    options = backend.config
    if backend.kind == "in_memory":
        value = options.get("max_bytes", 1)
        if not (_is_u64(value) and value > 0):
            return [
                _error(
                    "invalid_backend_option", "backend.config",
                    "max_bytes must be a positive integer",
                )
            ]  # fmt: skip
        return []
    if backend.kind == "redis":
        found = []
        if backend.url is None:
            found.append(
                _error(
                    "missing_redis_url", "backend.config.url",
                    "redis backend requires backend.config.url",
                )
            )  # fmt: skip
        if "key_prefix" in options and not isinstance(options["key_prefix"], str):
            found.append(
                _error("invalid_backend_option", "backend.config", "key_prefix must be a string")
            )
        return found
    return [_error("unknown_backend", "backend.kind", f"unknown backend kind '{backend.kind}'")]


def _tool_errors(tools: ToolCacheConfig) -> list[CacheDiagnostic]:
    found = _policy_errors("default", tools.default.ttl_seconds, tools.default.bypass_rate)
    if tools.default.cacheable:
        found.append(
            _error(
                "tool_cacheable_default",
                "tools.default.cacheable",
                "tools.default.cacheable must be false; use a named class or override to "
                "classify cacheable tools",
            )
        )
    if tools.default.members:
        found.append(
            _error(
                "tool_default_members",
                "tools.default",
                "tools.default.members is never matched (the default bucket applies to every "
                "unclassified tool); move these names into a named class",
            )
        )
    found += _class_errors(tools)
    found += _class_conflicts(tools)
    found += _override_errors(tools)
    return found + _override_conflicts(tools)


def _class_errors(tools: ToolCacheConfig) -> list[CacheDiagnostic]:
    found: list[CacheDiagnostic] = []
    owner: dict[str, str] = {}
    for name, cls in sorted(tools.classes.items()):
        found += _policy_errors(f"classes.{name}", cls.ttl_seconds, cls.bypass_rate)
        for member in cls.members:
            if not is_supported_pattern(member):
                found.append(
                    _error(
                        "tool_invalid_pattern",
                        "tools.classes",
                        f"tool member '{member}' in class '{name}' must be an exact name, "
                        "'prefix*', '*suffix', or '*contains*'",
                    )
                )
            previous = owner.setdefault(member, name)
            if previous != name:
                found.append(
                    _error(
                        "tool_multiple_classes",
                        "tools.classes",
                        f"tool member '{member}' appears in multiple classes ('{previous}' and "
                        f"'{name}'); a member \u2014 exact name or pattern \u2014 may appear in "
                        "at most one class",
                    )
                )
            if cls.cacheable and member == "*":
                found.append(
                    _error(
                        "tool_catch_all_member",
                        "tools.classes",
                        f"class '{name}' lists the catch-all member '*' with cacheable = true, "
                        "which caches every tool; use a named class to classify cacheable tools",
                    )
                )
    return found


def _class_conflicts(tools: ToolCacheConfig) -> list[CacheDiagnostic]:
    found = []
    for (left, lcls), (right, rcls) in combinations(sorted(tools.classes.items()), 2):
        if lcls.cacheable == rcls.cacheable:
            continue
        if any(
            a != b and "*" in a and "*" in b and patterns_overlap(a, b)
            for a in lcls.members
            for b in rcls.members
        ):
            found.append(
                _error(
                    "tool_conflicting_classes",
                    "tools.classes",
                    f"classes '{left}' and '{right}' contain overlapping wildcard members with "
                    "conflicting cacheable settings; split the patterns so one policy applies "
                    "to every tool",
                )
            )
    return found


def _override_errors(tools: ToolCacheConfig) -> list[CacheDiagnostic]:
    found: list[CacheDiagnostic] = []
    for name, over in sorted(tools.overrides.items()):
        if not is_supported_pattern(name):
            found.append(
                _error(
                    "tool_invalid_pattern",
                    "tools.overrides",
                    f"tool override '{name}' must be an exact name, 'prefix*', '*suffix', or "
                    "'*contains*'",
                )
            )
        found += _policy_errors(f"overrides.{name}", over.ttl_seconds, over.bypass_rate)
        if over.cacheable is True and name == "*":
            found.append(
                _error(
                    "tool_catch_all_override",
                    "tools.overrides",
                    "override '*' sets cacheable = true for every tool; use a named override "
                    "to classify cacheable tools",
                )
            )
    return found


def _override_conflicts(tools: ToolCacheConfig) -> list[CacheDiagnostic]:
    return [
        _error(
            "tool_conflicting_overrides",
            "tools.overrides",
            f"overrides '{left}' and '{right}' overlap with conflicting cacheable settings; "
            "split the patterns so one policy applies to every tool",
        )
        for (left, lo), (right, ro) in combinations(sorted(tools.overrides.items()), 2)
        if lo.cacheable != ro.cacheable
        and "*" in left
        and "*" in right
        and patterns_overlap(left, right)
    ]


def _policy_errors(
    where: str, ttl_seconds: int | None, bypass_rate: float | None
) -> list[CacheDiagnostic]:
    found = []
    if ttl_seconds == 0:
        found.append(
            _error(
                "tool_invalid_ttl", "tools", f"tools.{where}.ttl_seconds must be greater than 0 "
                "when set",
            )
        )  # fmt: skip
    if bypass_rate is not None and not 0.0 <= bypass_rate <= 1.0:
        found.append(
            _error(
                "tool_invalid_bypass_rate", "tools",
                f"tools.{where}.bypass_rate must be in [0.0, 1.0] when set",
            )
        )  # fmt: skip
    return found


# -- unknown fields: warnings, as NeMo Relay's plugin validation gives -------------------------


_BACKEND_FIELDS = {"in_memory": {"max_bytes"}, "redis": {"url", "key_prefix"}}


def _unknown_field_warnings(config: ResponseCacheConfig) -> list[CacheDiagnostic]:
    found = _extras("response_cache", config)
    found += _extras("response_cache.backend", config.backend)
    known = _BACKEND_FIELDS.get(config.backend.kind)
    if known is not None:
        component = f"response_cache.backend.{config.backend.kind}"
        found += [_unknown(component, name) for name in config.backend.config if name not in known]
    if config.tools is not None:
        found += _extras("response_cache.tools", config.tools)
        found += _extras("response_cache.tools.default", config.tools.default)
        for name, cls in config.tools.classes.items():
            found += _extras(f"response_cache.tools.classes.{name}", cls)
        for name, over in config.tools.overrides.items():
            found += _extras(f"response_cache.tools.overrides.{name}", over)
    return found


def _extras(component: str, model: BaseModel) -> list[CacheDiagnostic]:
    return [_unknown(component, name) for name in model.model_extra or {}]


def _unknown(component: str, name: str) -> CacheDiagnostic:
    return CacheDiagnostic(
        level="warning",
        code="adaptive.unknown_field",
        component=component,
        field=name,
        message=f"field '{name}' is not recognized for '{component}'",
    )
