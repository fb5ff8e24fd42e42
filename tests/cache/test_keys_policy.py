"""Key derivation and tool-policy resolution (pure logic)."""

from __future__ import annotations

from typing import Any

from adaptive.cache import ResponseCacheConfig
from adaptive.cache.keys import Bypass, LlmKeyer, fingerprint, tool_key
from adaptive.cache.patterns import best_wildcard, is_supported_pattern
from adaptive.cache.policy import BypassSampler, resolve_tool_policy
from tests.cache import reference_keys

BODY: dict[str, Any] = {
    "model": "m",
    "messages": [{"role": "user", "content": "q"}],
    "temperature": 0,
}


def keyer(**section: Any) -> LlmKeyer:
    return LlmKeyer(ResponseCacheConfig.model_validate({"namespace": "ns1", **section}))


def test_a_plain_chat_request_keys_on_nemo_relays_normalized_form() -> None:
    # the live 0.10.4 key of this request (see tests/relay/test_response_cache.py)
    document = {
        "v": 1,
        "ns": "ns1",
        "provider": "openai",
        "strategy": "exact_request",
        "codec": "openai_chat",
        "openai_chat_token_cap": None,
        "headers": {},
        "body": {
            "api_specific": {"api": "openai_chat"},
            "model": "m",
            "messages": BODY["messages"],
            "params": {"temperature": 0},
        },
    }
    assert keyer().derive("openai", {}, BODY) == reference_keys.fingerprint(document)
    assert fingerprint(document) == reference_keys.fingerprint(document)  # the fast text


def test_noise_fields_key_order_and_tool_call_ids_do_not_change_the_key() -> None:
    k = keyer()
    base = k.derive("openai", {}, BODY)
    noisy = {
        "stream": True,
        "user": "u",
        "metadata": {"r": 1},
        "store": False,
        **dict(reversed(list(BODY.items()))),
    }
    assert k.derive("openai", {}, noisy) == base

    def with_call(call_id: str) -> dict[str, Any]:
        call = {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
        messages = [
            *BODY["messages"],
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": "r"},
        ]
        return {**BODY, "messages": messages}

    assert k.derive("openai", {}, with_call("call_a")) == k.derive("openai", {}, with_call("b"))
    assert k.derive("openai2", {}, BODY) != base
    assert keyer(namespace="ns2").derive("openai", {}, BODY) != base


def test_headers_fold_in_only_when_allowlisted() -> None:
    plain, tenant = keyer(), keyer(header_allowlist=["X-Tenant"])
    assert plain.derive("openai", {"X-Tenant": "a"}, BODY) == plain.derive("openai", {}, BODY)
    assert tenant.derive("openai", {"x-tenant": "a"}, BODY) == tenant.derive(
        "openai", {"X-TENANT": "a"}, BODY
    )
    assert tenant.derive("openai", {"X-Tenant": "a"}, BODY) != tenant.derive(
        "openai", {"X-Tenant": "b"}, BODY
    )
    assert tenant.derive("openai", {}, BODY) != plain.derive("openai", {}, BODY)


def test_logical_keys_ignore_tool_descriptions_and_order_but_not_interfaces() -> None:
    def tool(name: str, description: str, param: str) -> dict[str, Any]:
        schema = {"type": "object", "properties": {param: {"type": "string", "description": "p"}}}
        return {
            "type": "function",
            "function": {"name": name, "description": description, "parameters": schema},
        }

    a = {**BODY, "tools": [tool("w", "Weather.", "city"), tool("t", "Time.", "tz")]}
    b = {**BODY, "tools": [tool("t", "Clock.", "tz"), tool("w", "Reworded.", "city")]}
    c = {**BODY, "tools": [tool("t", "Time.", "tz"), tool("w", "Weather.", "location")]}
    logical, exact = keyer(key_strategy="logical"), keyer()
    assert logical.derive("openai", {}, a) == logical.derive("openai", {}, b)
    assert logical.derive("openai", {}, a) != logical.derive("openai", {}, c)
    assert exact.derive("openai", {}, a) != exact.derive("openai", {}, b)
    assert logical.derive("openai", {}, BODY) != exact.derive("openai", {}, BODY)


def test_bypass_reasons() -> None:
    k = keyer()
    cases = {
        "nondeterministic_temperature": {**BODY, "temperature": 0.2},
        "stateful_store": {**BODY, "store": True},
        "stateful_previous_response_id": {**BODY, "previous_response_id": "r"},
        "stateful_conversation": {**BODY, "conversation": "c"},
        "unrepresentable_number": {**BODY, "seed": 2**60},
    }
    for reason, body in cases.items():
        assert k.derive("openai", {}, body) == Bypass(reason)
    assert k.derive("openai", {}, None) == Bypass("unparseable_body")
    assert k.key("openai", {}, {**BODY, "when": object()}) == Bypass("canonicalization_failed")
    assert k.key("openai", {}, BODY) == k.derive("openai", {}, BODY)  # memoized path


def test_tool_keys_skip_arguments_and_fold_in_versions() -> None:
    def key(**overrides: Any) -> Any:
        fields = {
            "namespace": "ns1",
            "tool": "docs_search",
            "tool_version": "v1",
            "args": {"q": 1},
            "arg_skip": [],
            "cache_errors": False,
            **overrides,
        }
        return tool_key(**fields)

    # the live 0.10.4 key of this call
    expected = "sha256:798192a459dbe51bd88e3d7a5a91eed4bf68ffe4886e3d1b422b9dd579ada5dd"
    assert key(args={"q": 1, "trace": 9}, arg_skip=["trace"]) == expected
    assert key(tool_version="v2") != key()
    assert key(cache_errors=True) != key()


def test_wildcards_resolve_most_specific_first() -> None:
    assert [
        p for p in ["a", "*", "a*", "*a", "*a*", "a*b", "**", "**a"] if is_supported_pattern(p)
    ] == ["a", "*", "a*", "*a", "*a*"]
    candidates = [("*", "any"), ("docs_*", "docs"), ("docs_se*", "docs_se"), ("*search", "s")]
    assert best_wildcard(candidates, "docs_search") == "docs_se"
    assert best_wildcard(candidates, "web_search") == "s"
    assert best_wildcard(candidates, "zzz") == "any"


def test_tool_policy_layers_default_class_and_override() -> None:
    config = ResponseCacheConfig.model_validate(
        {
            "namespace": "n",
            "ttl_seconds": 100,
            "tools": {
                "enabled": True,
                "classes": {
                    "docs": {
                        "cacheable": True,
                        "ttl_seconds": 5,
                        "arg_skip": ["t"],
                        "members": ["docs_*", "exact_docs"],
                    },
                    "deny": {"members": ["docs_secret"]},
                },
                "overrides": {
                    "docs_search": {"tool_version": "v2", "arg_skip": []},
                    "*_fast": {"bypass_rate": 0.5},
                },
            },
        }
    )
    tools = config.tools
    assert tools is not None
    search = resolve_tool_policy("docs_search", config, tools)
    assert (search.cacheable, search.ttl_ms, search.arg_skip, search.tool_version) == (
        True,
        5000,
        [],
        "v2",
    )
    assert resolve_tool_policy("docs_secret", config, tools).cacheable is False
    assert resolve_tool_policy("docs_fast", config, tools).bypass_rate == 0.5
    other = resolve_tool_policy("other", config, tools)
    assert (other.cacheable, other.ttl_ms) == (False, 100_000)


def test_bypass_sampler_rates() -> None:
    sampler = BypassSampler(seed=1)
    assert not any(sampler.sampled(0.0) for _ in range(100))
    assert all(sampler.sampled(1.0) for _ in range(100))
    assert 300 < sum(sampler.sampled(0.5) for _ in range(1000)) < 700
