"""Our diagnostics against NeMo Relay 0.10.4's own, live, through its plugin host.

Each config is validated by ``nemo_relay.plugin.validate_exact`` twice: as
NeMo Relay's ``adaptive`` component (its validator) and as our
``adaptive_runtime`` component (our plugin's ``validate``, called by the same
host). Where the field is NeMo Relay's, the diagnostics must be the same:
level, code, component, field and message; only the component naming the
top-level table differs (the kind).
"""

from __future__ import annotations

from typing import Any

import nemo_relay
import pytest

from adaptive.relay import register_plugin

MEMORY = {"state": {"backend": {"kind": "in_memory"}}}
REDIS = {"state": {"backend": {"kind": "redis", "config": {"url": "redis://127.0.0.1:6379/0"}}}}

CASES: list[dict[str, Any]] = [
    {},
    {**MEMORY, "telemetry": {"learners": ["tool_parallelism"]}, "adaptive_hints": {},
     "tool_parallelism": {"mode": "schedule"}, "acg": {"provider": "anthropic"}},
    {"agent_idd": "x", "policy": {"unknown_fielde": "warn"}},
    {"state": {"backend": {"kind": "in_memory", "config": {"url": "x"}}, "extra": 1}},
    {"state": {"backend": {"kind": "redis", "config": {"url": "redis://h/0", "urll": 1},
                           "kinds": 2}}},
    {"telemetry": {"learner": []}, "adaptive_hints": {"priorit": 1},
     "tool_parallelism": {"modes": 1}},
    {**MEMORY, "acg": {"provider": "openai", "windows": 3}},
    {"agent_idd": "x", "policy": {"unknown_field": "error"}},
    {"agent_idd": "x", "policy": {"unknown_field": "ignore"}},
    {"tool_parallelism": {"mode": "fast"}},
    {"tool_parallelism": {"mode": "fast"}, "policy": {"unsupported_value": "warn"}},
    {"tool_parallelism": {"mode": "fast"}, "policy": {"unsupported_value": "ignore"}},
    {**MEMORY, "acg": {"provider": "gemini"}},
    {**MEMORY, "acg": {"provider": "gemini"}, "policy": {"unsupported_value": "warn"}},
    {"version": 2},
    {"version": 3, "policy": {"unsupported_value": "warn"}},
    {"telemetry": {"learners": ["acg"]}},
    {"acg": {}},
    {"telemetry": {}, "acg": {"provider": "gemini"}},
    {**REDIS, "telemetry": {}},
    {"response_cache": {}},
    {"response_cache": {"namespace": "n", "ttl_seconds": 0, "bypass_rate": 2.0,
                        "key_strategy": "semantic", "header_allowlist": ["Authorization"]}},
    {"response_cache": {"namespace": "n", "backend": {"kind": "redis"}}},
    {"response_cache": {"namespace": "n", "backend": {"kind": "memcached"}}},
    {"response_cache": {"namespace": "n", "tll": 3, "backend": {"kind": "in_memory",
                        "config": {"max_bytes": 0, "maxbytes": 1}}}},
    {"response_cache": {"namespace": "n", "tools": {"enabled": True, "default": {"cacheable": True},
                        "classes": {"a": {"members": ["x*"], "cacheable": True},
                                    "b": {"members": ["xy*"]}}}}},
]  # fmt: skip


def report(kind: str, config: dict[str, Any]) -> list[dict[str, str]]:
    document = {"version": 1, "components": [{"kind": kind, "config": config}]}
    diagnostics: list[dict[str, str]] = nemo_relay.plugin.validate_exact(document)["config"][
        "diagnostics"
    ]
    return diagnostics


def normalized(diagnostics: list[dict[str, str]], kind: str) -> list[tuple[str, ...]]:
    """Sorted (order differs: NeMo Relay lists unknown fields first), the kind as 'adaptive'."""
    rows = []
    for d in diagnostics:
        component = "adaptive" if d.get("component") == kind else d.get("component", "")
        message = d["message"].replace(f"'{kind}'", "'adaptive'")
        rows.append((d["level"], d["code"], component, d.get("field", ""), message))
    return sorted(rows)


@pytest.mark.parametrize("config", CASES, ids=range(len(CASES)))
def test_same_diagnostics_as_nemo_relay(config: dict[str, Any]) -> None:
    register_plugin()
    theirs = normalized(report("adaptive", config), "adaptive")
    ours = normalized(report("adaptive_runtime", config), "adaptive_runtime")
    assert ours == theirs


def test_the_cases_cover_every_code_nemo_relay_gives_here() -> None:
    """Guards the table above: a case that stopped producing its code would go unnoticed."""
    seen = {row[1] for config in CASES for row in normalized(report("adaptive", config), "x")}
    assert seen >= {
        "adaptive.unknown_field",
        "adaptive.unsupported_value",
        "adaptive.unsupported_config_version",
        "adaptive.section_disabled_missing_state",
        "response_cache.missing_namespace",
        "response_cache.invalid_ttl",
        "response_cache.invalid_bypass_rate",
        "response_cache.unsupported_key_strategy",
        "response_cache.auth_header_allowlisted",
        "response_cache.missing_redis_url",
        "response_cache.unknown_backend",
        "response_cache.invalid_backend_option",
        "response_cache.tool_cacheable_default",
        "response_cache.tool_conflicting_classes",
    }


def test_where_nemo_relay_lets_a_value_through_we_say_what_is_allowed() -> None:
    """Values NeMo Relay 0.10.4 accepts silently (and then misbehaves on, or ignores)."""
    register_plugin()
    for config, where in [
        ({**MEMORY, "telemetry": {"learners": ["magic"]}}, ("telemetry", "learners")),
        ({**MEMORY, "acg": {"observation_window": 0}}, ("acg", "observation_window")),
        (
            {**MEMORY, "acg": {"stability_thresholds": {"stable_threshold": 1.5,
             "semi_stable_threshold": 0.5, "min_observations_for_full_confidence": 20}}},
            ("acg", "stability_thresholds.stable_threshold"),
        ),
        ({"state": {"backend": {"kind": "redis"}}}, ("redis", "url")),
    ]:  # fmt: skip
        assert report("adaptive", config) == []
        ours = report("adaptive_runtime", config)
        assert [(d["level"], d["component"], d["field"]) for d in ours] == [("error", *where)]
