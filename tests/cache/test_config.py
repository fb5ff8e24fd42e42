"""The section's defaults and every validation rule, against the installed NeMo Relay 0.10.4."""

from __future__ import annotations

from typing import Any

import pytest
from nemo_relay import adaptive as relay_adaptive
from nemo_relay import plugin as relay_plugin

from adaptive.cache import CacheDiagnostic, ResponseCacheConfig

SECTIONS: list[dict[str, Any]] = [
    {},
    {"namespace": "x"},
    {"namespace": "  "},
    {"namespace": "x", "ttl_seconds": 0},
    {"namespace": "x", "bypass_rate": 2},
    {"namespace": "x", "bypass_rate": -0.1},
    {"namespace": "x", "key_strategy": "logical"},
    {"namespace": "x", "key_strategy": "semantic"},
    {"namespace": "x", "header_allowlist": ["Authorization", "x-api-key", "X-Tenant", "Cookie"]},
    {"namespace": "x", "backend": {"kind": "in_memory", "config": {"max_bytes": 0}}},
    {"namespace": "x", "backend": {"kind": "in_memory", "config": {"max_bytes": "1"}}},
    {"namespace": "x", "backend": {"kind": "in_memory", "config": {"max_bytes": 1.5}}},
    {"namespace": "x", "backend": {"kind": "redis", "config": {}}},
    {"namespace": "x", "backend": {"kind": "redis", "config": {"url": " "}}},
    {
        "namespace": "x",
        "backend": {"kind": "redis", "config": {"url": "redis://h", "key_prefix": 3}},
    },
    {"namespace": "x", "backend": {"kind": "redis", "config": {"url": "redis://h"}}},
    {"namespace": "x", "backend": {"kind": "memcached"}},
]
TOOLS: list[dict[str, Any]] = [
    {"default": {"cacheable": True}},
    {"default": {"members": ["a"], "ttl_seconds": 0, "bypass_rate": 3}},
    {"classes": {"a": {"members": ["t"]}, "b": {"cacheable": True, "members": ["t"]}}},
    {"classes": {"a": {"members": ["a*b", "**", "***", "**a", "*x*", "p*", "*s"]}}},
    {"overrides": {"x*y": {}, "t": {"bypass_rate": -1, "ttl_seconds": 0}}},
    {"classes": {"a": {"cacheable": True, "members": ["*"]}, "b": {"members": ["*"]}}},
    {"overrides": {"*": {"cacheable": True}}},
    {"classes": {"a": {"cacheable": True, "members": ["docs_*"]}, "b": {"members": ["*_search"]}}},
    {"classes": {"a": {"cacheable": True, "members": ["docs_*"]}, "b": {"members": ["web_*"]}}},
    {
        "classes": {
            "a": {"cacheable": True, "members": ["*_search"]},
            "b": {"members": ["*_web_search"]},
        }
    },
    {"overrides": {"docs_*": {"cacheable": True}, "*_search": {}, "z*": {"cacheable": False}}},
    {
        "enabled": True,
        "classes": {
            "docs": {
                "cacheable": True,
                "ttl_seconds": 300,
                "tool_version": "v1",
                "arg_skip": ["trace_id"],
                "members": ["docs_search", "docs_*"],
            }
        },
        "overrides": {"docs_search": {"tool_version": "v2"}},
    },
]


def native(section: dict[str, Any]) -> list[dict[str, Any]]:
    report = relay_adaptive.validate_config({"version": 1, "response_cache": section})
    return [dict(d) for d in report["diagnostics"]]


def ours(section: dict[str, Any]) -> list[dict[str, Any]]:
    found = ResponseCacheConfig.model_validate(section).diagnostics()
    return [d.model_dump(exclude_none=True) for d in found if d.level == "error"]


def test_defaults_are_nemo_relays() -> None:
    theirs = relay_adaptive.ResponseCacheConfig().to_dict()
    mine = ResponseCacheConfig().model_dump(exclude={"tools"})
    expected: dict[str, Any] = {**theirs, "backend": {"kind": "in_memory", "config": {}}}
    assert mine == expected
    tool_defaults = relay_adaptive.ToolCacheConfig().to_dict()
    from adaptive.cache import ToolCacheConfig

    assert ToolCacheConfig().model_dump(exclude_none=True) == tool_defaults


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: str(s)[:60])
def test_section_diagnostics_match_nemo_relay(section: dict[str, Any]) -> None:
    assert ours(section) == native(section)


@pytest.mark.parametrize("tools", TOOLS, ids=lambda s: str(s)[:60])
def test_tool_diagnostics_match_nemo_relay(tools: dict[str, Any]) -> None:
    section = {"namespace": "x", "tools": tools}
    assert ours(section) == native(section)


def test_unknown_fields_are_warned_as_nemo_relay_does() -> None:
    section = {
        "namespace": "x",
        "foo": 1,
        "backend": {"kind": "in_memory", "config": {"bar": 1}},
        "tools": {"baz": 1, "classes": {"a": {"qux": 1}}, "overrides": {"t": {"members": []}}},
    }
    plugin = relay_plugin.PluginConfig(
        components=[relay_adaptive.ComponentSpec({"version": 1, "response_cache": section})]  # type: ignore[dict-item]
    )
    theirs = sorted(
        (d["component"], d["field"], d["message"])
        for d in relay_plugin.validate(plugin)["config"]["diagnostics"]
    )
    warnings = [
        d for d in ResponseCacheConfig.model_validate(section).diagnostics() if d.level == "warning"
    ]
    assert all(d.code == "adaptive.unknown_field" for d in warnings)
    assert sorted((d.component, d.field, d.message) for d in warnings) == theirs


@pytest.mark.parametrize(
    "section",
    [
        {"ttl_seconds": -1},
        {"ttl_seconds": 1.5},
        {"priority": "a"},
        {"cache_nondeterministic": "yes"},
    ],
)
def test_wrong_types_are_refused_like_nemo_relays_deserializer(section: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        native({"namespace": "x", **section})
    with pytest.raises(ValueError):
        ResponseCacheConfig.model_validate({"namespace": "x", **section})


def test_diagnostic_shape() -> None:
    (diagnostic,) = ResponseCacheConfig().diagnostics()
    assert diagnostic == CacheDiagnostic(
        level="error",
        code="response_cache.missing_namespace",
        component="response_cache",
        field="namespace",
        message=diagnostic.message,
    )
