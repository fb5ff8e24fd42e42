"""Anthropic breakpoints on the learned stable prefix, as NeMo Relay 0.10.4 places them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adaptive.acg.providers import (
    AnthropicCacheProvider,
    learning_key,
    provider_named,
    relay_key_order,
)
from adaptive.acg.providers.relay_json import canonical_reparse
from adaptive.hot_cache import HotCache
from tests.acg.providers.support import (
    AGENT,
    LONG_SYSTEM,
    anthropic_request,
    anthropic_tools,
    frozen,
    learn,
    only_aggregate,
    relay_bytes,
)

EPHEMERAL = {"type": "ephemeral"}


def rewrite(request: dict[str, Any], cache: HotCache, **options: Any) -> dict[str, Any]:
    provider = AnthropicCacheProvider(**options)
    before = frozen(request)
    body = provider.rewrite(request, cache, agent_id=AGENT)
    assert request == before and relay_bytes(request) == relay_bytes(before)  # never mutated
    return body


def marked(items: list[Any]) -> list[int]:
    return [index for index, item in enumerate(items) if "cache_control" in json.dumps(item)]


def learned_scaffold(count: int = 4, **request: Any) -> tuple[HotCache, dict[str, Any]]:
    """A hot cache learned from ``count`` questions, and a new question's request."""
    requests = [anthropic_request(f"question {n}", **request) for n in range(count + 1)]
    return learn(requests[:count]), requests[count]


def few_shot_request(deviant_from: int | None = None) -> dict[str, Any]:
    """A request repeated verbatim (few-shot turns); a deviant changes turns from one on."""
    turns = ["First example?", "First answer.", "Second example?", "Second answer."]
    turns += ["Third example?", "Third answer.", "The question?"]
    messages = []
    for depth, text in enumerate(turns):
        changed = deviant_from is not None and depth >= deviant_from
        content = f"{text} (variant {deviant_from})" if changed else text
        messages.append({"role": "user" if depth % 2 == 0 else "assistant", "content": content})
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "system": LONG_SYSTEM,
        "tools": anthropic_tools(3),
        "messages": messages,
    }


def test_the_last_tool_of_a_stable_scaffold_gets_the_breakpoint() -> None:
    cache, request = learned_scaffold(tools=anthropic_tools())
    body = rewrite(request, cache)
    assert marked(body["tools"]) == [9]
    assert body["tools"][9]["cache_control"] == EPHEMERAL
    assert "ttl" not in body["tools"][9]["cache_control"]  # the 5-minute default
    assert body["system"] == LONG_SYSTEM and body["messages"] == request["messages"]


def test_every_tool_schema_is_rewritten_as_rfc_8785_json_parsed_back() -> None:
    tools = anthropic_tools()
    tools[0] = {
        "input_schema": {"type": "object", "b": 1e20, "a": [0.5, 2.0, -0.0], "é": 1, "z": True},
        "name": "tool_0",
        "description": "Tool 0",
    }
    cache, request = learned_scaffold(tools=tools)
    body = rewrite(request, cache)
    schema = body["tools"][0]["input_schema"]
    assert list(schema) == ["a", "b", "type", "z", "é"]  # RFC 8785 member order
    assert schema["a"] == [0.5, 2, 0] and type(schema["a"][1]) is int  # 2.0 comes back as 2
    assert type(schema["b"]) is float  # 1e20 is beyond 64-bit integers: serde reads a float
    assert list(body["tools"][0]) == ["description", "input_schema", "name"]
    assert type(body["tools"][1]["input_schema"]["properties"]["n"]["minimum"]) is int
    for raw, rewritten in zip(tools, body["tools"], strict=True):
        expected = canonical_reparse(raw)
        assert {k: v for k, v in rewritten.items() if k != "cache_control"} == expected


def test_a_system_string_becomes_one_text_block_carrying_the_breakpoint() -> None:
    cache, request = learned_scaffold(tools=None)
    body = rewrite(request, cache)
    assert body["system"] == [{"type": "text", "text": LONG_SYSTEM, "cache_control": EPHEMERAL}]
    assert "tools" not in body


def test_a_system_block_array_gets_the_breakpoint_on_its_last_block() -> None:
    system = [{"type": "text", "text": LONG_SYSTEM}, {"type": "text", "text": "Be brief."}]
    cache, request = learned_scaffold(tools=None, system=system)
    body = rewrite(request, cache)
    assert body["system"] == [system[0], {**system[1], "cache_control": EPHEMERAL}]
    assert request["system"][1] == {"type": "text", "text": "Be brief."}


def test_conversation_turns_get_breakpoints_and_never_more_than_four() -> None:
    """Only an exact repeat matches a prefix that reaches into the conversation; turns that
    deviate in a few repeats weaken the later blocks, so several boundaries pay, up to 4."""
    requests = [few_shot_request() for _ in range(80)]
    for index, depth in ((10, 1), (20, 2), (30, 3), (40, 4)):
        requests[index] = few_shot_request(deviant_from=depth)
    cache = learn(requests)
    body = rewrite(few_shot_request(), cache)
    assert marked(body["messages"]) == [0, 2, 3, 6]
    assert json.dumps(body).count("cache_control") == 4
    first = body["messages"][0]
    assert first["content"] == [
        {"type": "text", "text": "First example?", "cache_control": EPHEMERAL}
    ]
    assert marked(body["tools"]) == [] and body["system"] == LONG_SYSTEM
    deviant = rewrite(few_shot_request(deviant_from=2), cache)
    assert relay_bytes(deviant) == relay_bytes(few_shot_request(deviant_from=2))


def test_a_message_with_content_blocks_gets_the_breakpoint_on_its_last_block() -> None:
    parts = [{"type": "text", "text": "Look at this."}, {"type": "text", "text": "And this."}]
    request = few_shot_request()
    request["messages"][-1] = {"role": "user", "content": parts}
    cache = learn([request] * 5)
    body = rewrite(request, cache)
    assert body["messages"][-1]["content"] == [parts[0], {**parts[1], "cache_control": EPHEMERAL}]
    assert request["messages"][-1]["content"][1] == {"type": "text", "text": "And this."}


@pytest.mark.parametrize(
    ("model", "marked_tools"),
    [
        ("claude-sonnet-4-5-20250929", [9]),  # claude-sonnet-4: 1024 tokens
        ("claude-sonnet-4.6", [9]),  # 2048 tokens
        ("claude-haiku-4.5", []),  # 4096 tokens: this ~2,000-token prefix is too small
        ("claude-3-5-sonnet-20241022", []),  # no family: NeMo Relay places nothing
    ],
)
def test_the_minimum_cacheable_prefix_depends_on_the_model(
    model: str, marked_tools: list[int]
) -> None:
    cache, request = learned_scaffold(tools=anthropic_tools(), model=model)
    body = rewrite(request, cache)
    assert marked(body["tools"]) == marked_tools
    if not marked_tools:  # no breakpoint: the tools are not canonicalized either
        assert json.dumps(body) == json.dumps(request)


def test_one_hour_ttl_goes_on_every_cache_control_when_asked_for() -> None:
    """NeMo Relay 0.10.4 never gets here (no setting asks for it); its code then puts
    the TTL on every ``cache_control``, the caller's own ones included."""
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": EPHEMERAL}]
    cache, request = learned_scaffold(tools=anthropic_tools(), system=system)
    hour = rewrite(request, cache, ttl="1h")
    assert hour["tools"][9]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert hour["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    default = rewrite(request, cache)
    assert default["tools"][9]["cache_control"] == EPHEMERAL
    assert default["system"][0]["cache_control"] == EPHEMERAL
    unplaced = rewrite(request, HotCache(), ttl="1h")
    assert "ttl" not in json.dumps(unplaced)  # no breakpoint placed, no TTL written


def test_without_anything_learned_the_request_goes_out_unchanged() -> None:
    request = anthropic_request("q", tools=anthropic_tools())
    body = rewrite(request, HotCache())
    assert body == request and json.dumps(body) == json.dumps(request) and body is not request


def test_a_single_observation_is_not_enough() -> None:
    cache, request = learned_scaffold(count=1, tools=anthropic_tools())
    assert json.dumps(rewrite(request, cache)) == json.dumps(request)


def test_a_request_of_another_profile_is_left_as_it_is() -> None:
    cache, _ = learned_scaffold(tools=anthropic_tools())
    other = anthropic_request("q", tools=anthropic_tools(), system=LONG_SYSTEM + " Be brief.")
    assert learning_key(other, agent_id=AGENT) not in cache.acg_profiles
    # the aggregate is consulted instead, but its prefix is bound to the other key
    assert json.dumps(rewrite(other, cache)) == json.dumps(other)


def test_a_fresh_process_falls_back_to_the_aggregate_of_the_same_profile() -> None:
    cache, request = learned_scaffold(tools=anthropic_tools())
    assert marked(rewrite(request, only_aggregate(cache))["tools"]) == [9]


def test_anthropic_requests_without_system_are_read_as_openai_chat_and_left_alone() -> None:
    requests = [anthropic_request(f"q{n}", tools=anthropic_tools()) for n in range(5)]
    for request in requests:
        del request["system"]
    cache = learn(requests[:4])
    assert json.dumps(rewrite(requests[4], cache)) == json.dumps(requests[4])


def test_openai_requests_are_not_anthropics_business() -> None:
    chat = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": "q"}],
    }
    cache = learn([chat] * 4)
    assert json.dumps(rewrite(chat, cache)) == json.dumps(chat)


def test_the_result_shares_unchanged_members_and_can_be_edited_safely() -> None:
    cache, request = learned_scaffold(tools=anthropic_tools())
    provider = provider_named("anthropic")
    first = provider.rewrite(request, cache, agent_id=AGENT)
    assert first["messages"] is request["messages"]
    first["tools"][0]["input_schema"]["type"] = "edited by the caller"
    second = provider.rewrite(request, cache, agent_id=AGENT)
    assert second["tools"][0]["input_schema"]["type"] == "object"
    assert relay_bytes(second) == relay_bytes(relay_key_order(second))
