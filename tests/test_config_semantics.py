"""Reading a config: our semantics vs NeMo Relay's, policy, and a diagnostic for every bad value.

The diagnostics NeMo Relay 0.10.4 itself gives are compared live in
``tests/relay/test_config_parity.py``; here every invalid value is checked to
give a diagnostic naming the field and what is allowed, never an exception.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adaptive.config import (
    AdaptiveConfig,
    BackendKind,
    ConfigSemantics,
    HintsLookup,
    ToolParallelismMode,
    find_component,
    load_config,
    validate_table,
)
from adaptive.errors import ConfigError

RELAY = ConfigSemantics.RELAY


def relay(table: dict[str, Any], **kwargs: Any) -> AdaptiveConfig:
    report = validate_table(table, RELAY, component="adaptive_runtime", **kwargs)
    assert report.config is not None, report.diagnostics
    return report.config


def codes(table: dict[str, Any], semantics: ConfigSemantics = RELAY, **kwargs: Any) -> list[str]:
    report = validate_table(table, semantics, component="adaptive_runtime", **kwargs)
    return [f"{d.level}:{d.code}:{d.where}" for d in report.diagnostics]


# -- semantics ------------------------------------------------------------------------------


def test_our_semantics_turn_every_part_on() -> None:
    report = validate_table({})
    assert report.diagnostics == [] and report.config is not None
    config = report.config
    assert config.learns and config.learner_names == [
        "tool_parallelism",
        "latency_sensitivity",
        "acg",
    ]
    assert config.adaptive_hints is not None and config.tool_parallelism is not None


def test_nemo_relay_semantics_a_missing_section_is_off() -> None:
    config = relay({})
    assert (config.state, config.telemetry, config.adaptive_hints) == (None, None, None)
    assert (config.tool_parallelism, config.acg, config.response_cache) == (None, None, None)
    assert not config.learns and config.learner_names == []
    assert config.backend.kind is BackendKind.MEMORY  # nothing is stored without state


def test_nemo_relay_semantics_present_sections_take_nemo_relays_defaults() -> None:
    config = relay(
        {
            "state": {"backend": {"kind": "in_memory"}},
            "telemetry": {},
            "adaptive_hints": {},
            "tool_parallelism": {},
        }
    )
    assert config.learns and config.learner_names == []  # learners default to none
    assert config.adaptive_hints is not None
    assert config.adaptive_hints.lookup is HintsLookup.RELAY
    assert config.adaptive_hints.header_name == "x-nemo-relay-adaptive-agent-hints"
    assert config.tool_parallelism is not None
    assert config.tool_parallelism.mode is ToolParallelismMode.OBSERVE_ONLY
    assert config.acg is None


def test_learning_needs_state_as_in_nemo_relay() -> None:
    report = validate_table(
        {"telemetry": {"learners": ["acg"]}, "acg": {}}, RELAY, component="adaptive_runtime"
    )
    assert [d.as_relay() for d in report.diagnostics] == [
        {
            "level": "warning",
            "code": "adaptive.section_disabled_missing_state",
            "component": name,
            "message": f"{name} requires state backend and will be disabled",
        }
        for name in ("telemetry", "acg")
    ]
    assert report.config is not None and not report.config.learns


def test_the_acg_learner_needs_the_acg_section() -> None:
    table = {"state": {"backend": {"kind": "in_memory"}}, "telemetry": {"learners": ["acg"]}}
    assert codes(table) == ["warning:adaptive.section_disabled_missing_acg:telemetry.learners"]
    assert relay(table).learner_names == []


@pytest.mark.parametrize(
    ("backend", "kind"),
    [
        ({"kind": "in_memory"}, BackendKind.MEMORY),
        ({"kind": "sqlite", "config": {"url": "sqlite:///x.db"}}, BackendKind.SQLITE),
        ({"kind": "postgres", "config": {"url": "postgresql://p@h/db"}}, BackendKind.POSTGRES),
        ({"kind": "postgresql", "config": {"url": "postgresql://p@h/db"}}, BackendKind.POSTGRES),
        (
            {"kind": "redis", "config": {"url": "redis://h/0", "key_prefix": "x:"}},
            BackendKind.REDIS,
        ),
        (
            {"kind": "tiered", "config": {"durable": "sqlite:///a.db", "hot": "redis://h/0"}},
            BackendKind.TIERED,
        ),
        ("postgresql://p@h/db", BackendKind.POSTGRES),
        ("redis://h:6379/0?key_prefix=x:", BackendKind.REDIS),
    ],
)
def test_our_backend_kinds_and_urls_in_a_plugins_toml(backend: Any, kind: BackendKind) -> None:
    config = relay({"state": {"backend": backend}})
    assert config.backend.kind is kind


def test_plugins_toml_component_choice_and_enabled(tmp_path: Path) -> None:
    ours = {"kind": "adaptive_runtime", "enabled": False, "config": {"adaptive_hints": {}}}
    theirs = {"kind": "adaptive", "config": {"tool_parallelism": {}}}
    source = find_component({"components": [theirs, ours]})
    assert (source.component, source.semantics) == ("adaptive_runtime", RELAY)
    assert not source.enabled
    config = source.validate().config
    assert config is not None and config.adaptive_hints is None  # enabled = false: all off
    source = find_component({"components": [theirs]})
    assert source.component == "adaptive"
    with pytest.raises(ConfigError, match="2 components of kind 'adaptive_runtime'"):
        find_component({"components": [ours, ours]})


# -- policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({}, ["warning:adaptive.unknown_field:adaptive_runtime.agent_idd"]),
        ({"unknown_field": "error"}, ["error:adaptive.unknown_field:adaptive_runtime.agent_idd"]),
        ({"unknown_field": "ignore"}, []),
    ],
)
def test_unknown_fields_follow_the_policy(policy: dict[str, str], expected: list[str]) -> None:
    assert codes({"agent_idd": "x", "policy": policy}) == expected


def test_an_unsupported_value_under_warn_runs_the_default() -> None:
    table = {
        "tool_parallelism": {"mode": "fast"},
        "acg": {"provider": "gemini"},
        "state": {"backend": {"kind": "in_memory"}},
        "telemetry": {"learners": ["magic", "acg"]},
        "policy": {"unsupported_value": "warn"},
    }
    assert codes(table) == [
        "warning:adaptive.unsupported_value:tool_parallelism.mode",
        "warning:adaptive.unsupported_value:acg.provider",
        "warning:adaptive.unsupported_value:telemetry.learners",
    ]
    config = relay(table)
    assert config.tool_parallelism is not None
    assert config.tool_parallelism.mode is ToolParallelismMode.OBSERVE_ONLY
    assert config.acg is not None and config.acg.provider.value == "passthrough"
    assert config.learner_names == ["acg"]
    table["policy"] = {"unsupported_value": "ignore"}
    assert codes(table) == []


def test_the_documents_policy_overrides_the_components_where_not_default() -> None:
    table = {"agent_idd": "x", "policy": {"unknown_field": "ignore"}}
    assert codes(table, document_policy={"unknown_field": "error"}) == [
        "error:adaptive.unknown_field:adaptive_runtime.agent_idd"
    ]
    assert codes(table, document_policy={"unknown_field": "warn"}) == []  # the default: no say


def test_our_own_fields_are_known() -> None:
    table = {
        "drain": {"batch_size": 8},
        "sensitivity_scale": 5,
        "response_cache_options": {"single_flight": False},
        "adaptive_hints": {"header_name": "x-hints", "lookup": "call_site"},
        "state": {"backend": {"kind": "redis", "config": {"url": "redis://h/0", "run_ttl_s": 60}}},
    }
    assert codes(table) == []


# -- every invalid value: a diagnostic naming the field and what is allowed ------------------

STATE = {"state": {"backend": {"kind": "in_memory"}}}
INVALID = [
    ({"acg": {"provider": "gemini"}}, "acg.provider", "expected anthropic, openai, or passthrough"),
    (
        {"telemetry": {"learners": ["magic"]}},
        "telemetry.learners",
        "expected tool_parallelism, latency_sensitivity, or acg",
    ),
    (
        {"tool_parallelism": {"mode": "fast"}},
        "tool_parallelism.mode",
        "expected observe_only, inject_hints, or schedule",
    ),
    (
        {"state": {"backend": {"kind": "mysql"}}},
        "mysql.kind",
        "expected in_memory, sqlite, postgres, redis or tiered",
    ),
    ({"state": {"backend": "mysql://db/x"}}, "state.backend", "use memory://, sqlite:///path.db"),
    (
        {"state": {"backend": {"kind": "redis"}}},
        "redis.url",
        "redis backend requires state.backend.config.url",
    ),
    (
        {"state": {"backend": {"kind": "tiered", "config": {"durable": "sqlite:///a.db"}}}},
        "tiered.hot",
        "needs state.backend.config.hot",
    ),
    ({"acg": {"observation_window": 0}}, "acg.observation_window", "must be at least 1, got 0"),
    ({"acg": {"observation_window": -5}}, "acg.observation_window", "must be at least 1, got -5"),
    (
        {"acg": {"stability_thresholds": {"stable_threshold": 1.5}}},
        "acg.stability_thresholds.stable_threshold",
        "must be at most 1.0, got 1.5",
    ),
    (
        {"acg": {"stability_thresholds": {"semi_stable_threshold": -0.1}}},
        "acg.stability_thresholds.semi_stable_threshold",
        "must be at least 0.0, got -0.1",
    ),
    (
        {"acg": {"stability_thresholds": {"stable_threshold": 0.3, "semi_stable_threshold": 0.6}}},
        "acg.stability_thresholds.semi_stable_threshold",
        "must be at most stable_threshold (0.3), got 0.6",
    ),
    (
        {"acg": {"stability_thresholds": {"min_observations_for_full_confidence": 0}}},
        "acg.stability_thresholds.min_observations_for_full_confidence",
        "must be at least 1, got 0",
    ),
    ({"adaptive_hints": {"priority": "high"}}, "adaptive_hints.priority", "valid integer"),
    (
        {"adaptive_hints": {"priority": 2**40}},
        "adaptive_hints.priority",
        "must be at most 2147483647",
    ),
    (
        {"adaptive_hints": {"header_name": ""}},
        "adaptive_hints.header_name",
        "must be a non-empty string",
    ),
    (
        {"adaptive_hints": {"lookup": "nearest"}},
        "adaptive_hints.lookup",
        "must be 'call_site' or 'relay'",
    ),
    ({"version": 2}, "version", "adaptive config version 2 is unsupported"),
    (
        {"policy": {"unknown_field": "loud"}},
        "policy.unknown_field",
        "expected one of `ignore`, `warn`, `error`",
    ),
    ({"agent_id": 5}, "adaptive_runtime.agent_id", "valid string"),
    ({"drain": {"batch_size": 0}}, "drain.batch_size", "must be at least 1, got 0"),
    ({"sensitivity_scale": 0}, "adaptive_runtime.sensitivity_scale", "must be at least 1, got 0"),
    ({"response_cache": {}}, "response_cache.namespace", "namespace must identify one trusted"),
    (
        {"response_cache": {"namespace": "n", "bypass_rate": 2.0}},
        "response_cache.bypass_rate",
        "must be in [0.0, 1.0]",
    ),
    ({"adaptive_hints": 3}, "adaptive_runtime.adaptive_hints", "valid dictionary"),
]


@pytest.mark.parametrize(("table", "where", "allowed"), INVALID)
@pytest.mark.parametrize("semantics", list(ConfigSemantics))
def test_every_invalid_value_is_a_diagnostic_naming_the_field_and_what_is_allowed(
    table: dict[str, Any], where: str, allowed: str, semantics: ConfigSemantics
) -> None:
    report = validate_table({**STATE, **table}, semantics, component="adaptive_runtime")
    errors = report.errors
    assert report.config is None
    assert [e.where for e in errors] == [where], errors
    assert allowed in errors[0].message


def test_load_config_reports_every_error_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text(
        '[[components]]\nkind = "adaptive_runtime"\n[components.config.acg]\n'
        'provider = "gemini"\nobservation_window = 0\n'
    )
    with pytest.raises(ConfigError) as failed:
        load_config(path, env={})
    message = str(failed.value)
    assert "\n" not in message
    assert "acg.provider: acg provider 'gemini' is unsupported" in message
    assert "; acg.observation_window must be at least 1, got 0" in message


def test_a_broken_table_is_a_diagnostic_not_an_exception() -> None:
    report = validate_table(["not", "a", "table"], RELAY)  # type: ignore[arg-type]
    assert [d.code for d in report.errors] == ["adaptive.invalid_plugin_config"]
