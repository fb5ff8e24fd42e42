"""Every key is what it was before the fast paths: the memo, the C-speed text, the walk.

``tests/cache/reference_keys.py`` is the pre-optimization derivation (pure-Python
RFC 8785, no memo). Requests are drawn to hit what the fast paths must not
confuse: numbers equal in Python but not in a key (``True``/``1``/``1.0``,
``0``/``0.0``/``-0.0``/``False``), integers around 2**53, floats Python and
ECMAScript spell differently, member names beyond U+FFFF, lone surrogates,
tuples for lists, non-string member names, objects JSON cannot write.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive.cache import ResponseCacheConfig
from adaptive.cache.keys import Bypass, LlmKeyer, tool_key
from tests.acg.test_fast_canonical import TRICKY_CHARACTERS, json_values, texts
from tests.cache import reference_keys

NUMBERS = [0, 0.0, -0.0, False, 1, 1.0, True, 0.5, 5e-05, 2**53 - 1, 2**53, 2**60, 2.0**53, -1]
characters = st.one_of(st.characters(), st.sampled_from(TRICKY_CHARACTERS))
content = st.one_of(
    st.text(characters, max_size=30),
    st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": texts}), max_size=2),
    st.sampled_from(NUMBERS),
    st.none(),
)
tool_call = st.fixed_dictionaries(
    {
        "id": st.one_of(st.sampled_from(["call_a", "call_b"]), st.integers(0, 2)),
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {"name": st.sampled_from(["f", "g"]), "arguments": st.just("{}")}
        ),
    }
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "other"])},
    optional={
        "content": content,
        "name": st.one_of(texts, st.sampled_from(NUMBERS)),
        "tool_calls": st.lists(tool_call, min_size=1, max_size=2),
        "tool_call_id": st.sampled_from(["call_a", "call_b", 3]),
    },
)
tool = st.fixed_dictionaries(
    {
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {"name": st.sampled_from(["a", "b", "\U0001f600"])},
            optional={
                "description": st.one_of(texts, st.sampled_from(NUMBERS)),
                "parameters": st.dictionaries(texts, json_values, max_size=3),
                "strict": st.sampled_from([True, False, 1]),
            },
        ),
    }
)
number = st.one_of(st.sampled_from(NUMBERS), json_values)
chaotic_body = st.fixed_dictionaries(
    {
        "model": st.one_of(st.just("m"), texts, st.none(), st.sampled_from(NUMBERS)),
        "messages": st.one_of(
            st.lists(message, min_size=1, max_size=4),
            st.lists(message, min_size=1, max_size=2).map(tuple),
        ),
    },
    optional={
        "temperature": st.sampled_from([0, 0.0, -0.0, False, 0.5, True, None, "0"]),
        "max_tokens": number,
        "max_completion_tokens": number,
        "top_p": number,
        "seed": number,
        "stop": st.one_of(st.lists(texts, max_size=2), texts),
        "tools": st.lists(tool, max_size=3),
        "tool_choice": st.sampled_from(["auto", "bogus", {"type": "function"}]),
        "response_format": json_values,
        "metadata": st.one_of(json_values, st.just({"at": object()})),
        "user": st.one_of(texts, st.just(b"bytes")),
        "stream": st.booleans(),
        "store": st.sampled_from([False, None, True]),
        "params": st.fixed_dictionaries({"temperature": st.sampled_from([0, 0.0, 1])}),
        "extra": json_values,
        7: st.just("a non-string member name"),
    },
)
"""Anything: mostly raw-keyed, bypassed or refused requests."""
plain_text = st.text(characters, max_size=30)
plain_message = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer", "user"]), "content": plain_text},
        optional={"name": texts},
    ),
    st.fixed_dictionaries(
        {
            "role": st.just("user"),
            "content": st.lists(
                st.fixed_dictionaries({"type": st.just("text"), "text": plain_text}),
                min_size=1,
                max_size=2,
            ),
        }
    ),
    st.fixed_dictionaries(
        {"role": st.just("assistant")},
        optional={
            "content": plain_text,
            "tool_calls": st.lists(
                tool_call.filter(lambda call: isinstance(call["id"], str)), min_size=1, max_size=2
            ),
        },
    ).filter(lambda message: message != {"role": "assistant"}),
    st.fixed_dictionaries(
        {"role": st.just("tool"), "content": plain_text, "tool_call_id": st.just("call_a")}
    ),
)
plain_tool = st.fixed_dictionaries(
    {
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {"name": st.sampled_from(["a", "b", "\U0001f600"])},
            optional={
                "description": texts,
                "parameters": st.dictionaries(texts, json_values, max_size=3),
                "strict": st.booleans(),
            },
        ),
    }
)
plain_body = st.fixed_dictionaries(
    {
        "model": st.one_of(st.just("m"), texts),
        "messages": st.lists(plain_message, min_size=1, max_size=4),
        "temperature": st.sampled_from([0, 0.0, -0.0, 0, 0.0]),
    },
    optional={
        "max_tokens": st.sampled_from([5, 5.0, True, 2**53 - 1, 2**53, 2**60, 0]),
        "top_p": st.sampled_from([1, 1.0, 0.5, 5e-05, True]),
        "seed": st.sampled_from([1, 1.0, 2**53, 2**60, -3]),
        "stop": st.lists(texts, max_size=2),
        "tools": st.lists(plain_tool, max_size=3),
        "tool_choice": st.sampled_from(["auto", "required", "none"]),
        "response_format": st.dictionaries(texts, json_values, max_size=2),
        "parallel_tool_calls": st.booleans(),
        "stream": st.booleans(),
        "user": texts,
        "metadata": json_values,
        "store": st.just(False),
        "vendor_extension": json_values,
    },
)
"""An OpenAI Chat request NeMo Relay's codec decodes, but for the odd number or name."""
body = st.one_of(plain_body, plain_body, chaotic_body)
headers = st.dictionaries(
    st.sampled_from(["X-Tenant", "x-tenant", "X-NeMo-Relay-Internal-Dispatch-Backend", "Other"]),
    st.one_of(texts, st.sampled_from(NUMBERS)),
    max_size=3,
)
configs = st.builds(
    lambda strategy, allowlist, dispatched: ResponseCacheConfig.model_validate(
        {
            "namespace": "ns",
            "key_strategy": strategy,
            "header_allowlist": allowlist,
            "cache_nondeterministic": dispatched,
        }
    ),
    st.sampled_from(["exact_request", "logical"]),
    st.sampled_from([[], ["X-Tenant"]]),
    st.booleans(),
)


def reference(derivation: Any, *args: Any, **kwargs: Any) -> Any:
    """The reference outcome; where the old derivation raised (out of the call it keyed:
    the ``logical`` strategy sorting tools RFC 8785 cannot write, a self-containing
    request), ``FAILS_OPEN``: every such call must now bypass instead."""
    try:
        return derivation(*args, **kwargs)
    except (ValueError, TypeError, RecursionError):
        return FAILS_OPEN


FAILS_OPEN = object()


def same_outcome(actual: Any, expected: Any) -> bool:
    return isinstance(actual, Bypass) if expected is FAILS_OPEN else bool(actual == expected)


def twin(value: Any) -> Any:
    """``value`` with every number swapped for one Python finds equal: a different key."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and abs(value) <= 2**53:
        return {0: False, 1: True}.get(value, float(value))
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return -0.0 if value == 0 and str(value) == "0.0" else int(value)
    if isinstance(value, dict):
        return {name: twin(member) for name, member in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(twin(item) for item in value)
    return value


@settings(max_examples=400, deadline=None)
@given(configs, st.sampled_from(["openai", "anthropic"]), headers, st.lists(body, max_size=3))
def test_memoized_keys_equal_the_reference_derivation(
    config: ResponseCacheConfig, provider: str, header_map: dict[str, Any], bodies: list[Any]
) -> None:
    keyer = LlmKeyer(config)
    requests = [*bodies, *map(twin, bodies), *bodies]  # twins between, originals again
    for request in requests:
        expected = reference(reference_keys.key, config, provider, header_map, request)
        assert same_outcome(keyer.key(provider, header_map, request), expected)
        assert same_outcome(keyer.key(provider, header_map, request), expected)  # memoized
        try:
            copy = json.loads(json.dumps(request))  # a fresh equal request, if JSON has one
        except (TypeError, ValueError):
            continue
        expected = reference(reference_keys.key, config, provider, header_map, copy)
        assert same_outcome(keyer.key(provider, header_map, copy), expected)


@settings(max_examples=300, deadline=None)
@given(configs, headers, body)
def test_derived_keys_equal_the_reference_derivation(
    config: ResponseCacheConfig, header_map: dict[str, Any], request: Any
) -> None:
    keyer = LlmKeyer(config)
    for candidate in (request, twin(request)):
        expected = reference(reference_keys.derive, config, "openai", header_map, candidate)
        assert same_outcome(keyer.derive("openai", header_map, candidate), expected)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(json_values, st.dictionaries(texts, json_values, max_size=4)),
    st.lists(st.sampled_from(["trace", "q", "\U0001f600"]), max_size=2),
    st.one_of(st.none(), st.just("v1")),
    st.booleans(),
)
def test_tool_keys_equal_the_reference_derivation(
    args: Any, skip: list[str], version: str | None, cache_errors: bool
) -> None:
    for candidate in (args, twin(args)):
        fields: dict[str, Any] = {
            "namespace": "ns",
            "tool": "docs_search",
            "tool_version": version,
            "args": candidate,
            "arg_skip": skip,
            "cache_errors": cache_errors,
        }
        assert same_outcome(tool_key(**fields), reference(reference_keys.tool_key, **fields))


CHAT: dict[str, Any] = {
    "model": "m",
    "messages": [{"role": "user", "content": "q"}],
    "temperature": 0,
    "max_tokens": 5,
}


def test_the_memo_keeps_equal_but_differently_typed_requests_apart() -> None:
    keyer = LlmKeyer(ResponseCacheConfig(namespace="ns"))
    variants = [
        CHAT,
        {**CHAT, "max_tokens": 5.0},  # not a u64: keyed raw, a different key
        {**CHAT, "max_tokens": True},
        {**CHAT, "temperature": False},
        {**CHAT, "temperature": -0.0},
        {**CHAT, "messages": tuple(CHAT["messages"])},
        {**CHAT, "metadata": {1: "x"}},  # JSON writes "1": not the next one's request
        {**CHAT, "metadata": {"1": "x"}},
    ]
    outcomes = [keyer.key("openai", {}, variant) for variant in variants]
    assert outcomes == [reference_keys.key(keyer.config, "openai", {}, v) for v in variants]
    assert len({outcome for outcome in outcomes if isinstance(outcome, str)}) >= 3
    assert keyer.remembered == len(variants)


def test_equal_requests_share_one_memo_entry_however_they_were_built() -> None:
    keyer = LlmKeyer(ResponseCacheConfig(namespace="ns"))
    text = json.dumps(CHAT)
    shared = "q"
    built = {
        "model": "m",
        "messages": [{"role": "user", "content": shared}],
        "temperature": 0,
        "max_tokens": 5,
        "held": [shared, shared],  # the same string object, referenced three times
    }
    decoded = json.loads(json.dumps(built))
    first = keyer.key("openai", {}, built)
    assert keyer.key("openai", {}, decoded) == first
    assert keyer.key("openai", {}, json.loads(text)) == keyer.key("openai", {}, json.loads(text))
    assert keyer.remembered == 2  # ``built`` (= ``decoded``) and CHAT


def test_requests_marshal_refuses_are_derived_every_time() -> None:
    class Text(str):
        pass

    keyer = LlmKeyer(ResponseCacheConfig(namespace="ns"))
    odd = {**CHAT, "model": Text("m")}
    assert keyer.key("openai", {}, odd) == reference_keys.key(keyer.config, "openai", {}, odd)
    assert isinstance(keyer.key("openai", {}, odd), str)
    assert keyer.remembered == 0
    looped: dict[str, Any] = {**CHAT}
    looped["self"] = looped
    assert keyer.key("openai", {}, looped) == Bypass("canonicalization_failed")


def test_typical_requests_never_reach_the_pure_python_package(monkeypatch: Any) -> None:
    config = ResponseCacheConfig(namespace="ns", key_strategy="logical")
    request = {
        **CHAT,
        "temperature": 0.0,
        "top_p": 1.0,
        "messages": [{"role": "user", "content": "déjà vu \U0001f600 \u2028"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "description": "d",
                    "parameters": {"type": "object", "properties": {"n": {"maximum": 2.5}}},
                },
            }
        ],
    }
    expected = reference_keys.key(config, "openai", {"X-Other": "1"}, request)
    assert isinstance(expected, str)

    def refuse(value: Any) -> bytes:
        raise AssertionError("the exact path ran")

    monkeypatch.setattr("rfc8785.dumps", refuse)  # the one object both modules call
    assert LlmKeyer(config).key("openai", {"X-Other": "1"}, request) == expected
