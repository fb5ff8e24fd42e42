"""Byte for byte against NeMo Relay 0.10.4's native ACG, on state it learned in Redis.

A scripted agent runs under NeMo Relay's native adaptive component
(``acg.provider`` anthropic, openai or passthrough; Redis backend on this
test's own prefix). Before each run, what NeMo Relay stored so far is loaded
with our ``RedisBackend`` into a ``HotCache``; our rewrite of the run's bare
requests must serialize to exactly the bytes of the bodies NeMo Relay's
provider callable then receives.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adaptive.acg.providers import learning_key, provider_named, relay_key_order
from adaptive.config import AdaptiveConfig
from adaptive.storage.factory import create_backend
from adaptive.storage.protocol import StorageBackend
from tests.acg.providers.side_by_side import AGENT, NativeAgent, hot_cache_from
from tests.acg.providers.support import LONG_SYSTEM, anthropic_request, anthropic_tools

Run = tuple[str, list[dict[str, Any]]]


@pytest.fixture
async def backend(redis_url: str) -> AsyncIterator[StorageBackend]:
    storage = create_backend(AdaptiveConfig().with_backend_url(redis_url).backend)
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


async def run_side_by_side(
    provider_name: str, redis_url: str, backend: StorageBackend, runs: list[Run]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every run's (bare request, NeMo Relay body) after checking ours equals the body."""
    provider = provider_named(provider_name)
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []
    with NativeAgent(provider_name, redis_url) as agent:
        for surface, requests in runs:
            keys = {learning_key(request, agent_id=AGENT) for request in requests}
            cache = await hot_cache_from(backend, {key for key in keys if key is not None})
            ours = [provider.rewrite(request, cache, agent_id=AGENT) for request in requests]
            theirs = agent.run(surface, requests)
            for request, mine, relay in zip(requests, ours, theirs, strict=True):
                assert json.dumps(mine, sort_keys=True) == json.dumps(relay), request
                assert json.dumps(relay_key_order(mine)) == json.dumps(relay)
                seen.append((request, relay))
    return seen


def changed(seen: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        body for request, body in seen if json.dumps(body) != json.dumps(request, sort_keys=True)
    ]


def few_shot(deviant_from: int | None = None) -> dict[str, Any]:
    turns = ["First example?", "First answer.", "Second example?", "Second answer."]
    turns += ["Third example?", "Third answer.", "The question?"]
    messages = []
    for depth, text in enumerate(turns):
        varied = deviant_from is not None and depth >= deviant_from
        content = f"{text} ({deviant_from})" if varied else text
        messages.append({"role": "user" if depth % 2 == 0 else "assistant", "content": content})
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "system": LONG_SYSTEM,
        "tools": anthropic_tools(3),
        "messages": messages,
    }


def anthropic_runs() -> list[Run]:
    tools = anthropic_tools()
    runs: list[Run] = []
    for number in range(6):  # three profiles learned side by side, plus two never rewritten
        scaffold = anthropic_request(f"question {number}", tools=tools)
        system_only = anthropic_request(f"question {number}", model="claude-opus-4-1")
        small = anthropic_request(f"q{number}", tools=anthropic_tools(2), model="claude-haiku-4.5")
        no_system = anthropic_request(f"question {number}", tools=tools)
        del no_system["system"]
        runs.append(("anthropic_messages", [scaffold, system_only, small, no_system]))
    deviants = {8: 1, 16: 2, 24: 3, 32: 4}
    runs += [("anthropic_messages", [few_shot(deviants.get(n))]) for n in range(72)]
    return runs


async def test_anthropic_breakpoints_match_nemo_relay(
    redis_url: str, backend: StorageBackend
) -> None:
    seen = await run_side_by_side("anthropic", redis_url, backend, anthropic_runs())
    rewritten = changed(seen)
    assert len(rewritten) > 20
    counts = [json.dumps(body).count("cache_control") for body in rewritten]
    assert max(counts) == 4  # the few-shot profile reached the limit
    assert any(isinstance(body["system"], list) for body in rewritten)  # system string to blocks
    assert any("cache_control" in json.dumps(body.get("tools")) for body in rewritten)
    assert any("cache_control" in json.dumps(body["messages"]) for body in rewritten)
    never = [body for request, body in seen if request["model"] == "claude-haiku-4.5"]
    assert never and all(body not in rewritten for body in never)


IMAGE = {"type": "image_url", "zeta": 1.0, "image_url": {"url": "http://x/a.png", "detail": "low"}}
CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": f"tool_{n}",
            "description": f"Tool {n}",
            "parameters": {"type": "object", "x": 1.0},
        },
    }
    for n in range(3)
]


def chat(first: str, model: str = "gpt-4o") -> dict[str, Any]:
    call = {"id": "c1", "type": "function", "function": {"name": "tool_0", "arguments": "{}"}}
    return {
        "model": model,
        "temperature": 1,
        "tools": CHAT_TOOLS,
        "messages": [
            {"role": "system", "content": LONG_SYSTEM},
            {"role": "user", "content": [{"type": "text", "text": first}, IMAGE]},
            {"role": "assistant", "content": "ok", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"},
            {"role": "user", "content": [IMAGE, {"type": "text", "text": "and?"}]},
        ],
    }


def responses(first: str, model: str = "gpt-4o") -> dict[str, Any]:
    return {
        "model": model,
        "instructions": LONG_SYSTEM,
        "tools": [{"type": "function", "name": "t", "parameters": {"type": "object", "x": 1.0}}],
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": first},
                    {"type": "input_image", "image_url": "u", "z": 2.0},
                ],
            },
            {"type": "function_call", "call_id": "c", "name": "t", "arguments": '{"a": 1.0}'},
            {"type": "function_call_output", "call_id": "c", "output": "o"},
            {"role": "user", "content": "question"},
        ],
    }


def openai_runs() -> list[Run]:
    """Per surface, one profile repeated verbatim (the prefix reaches into the messages)
    and one whose conversations differ (the prefix is the instructions and tools)."""
    runs: list[Run] = []
    for number in range(5):
        runs.append(("openai_chat", [chat("same", "gpt-4o-mini")]))
        runs.append(("openai_chat", [chat(f"conversation {number}")]))
        runs.append(("openai_responses", [responses("same", "gpt-4o-mini")]))
        runs.append(("openai_responses", [responses(f"conversation {number}")]))
    return runs


async def test_openai_canonical_tools_and_prefix_match_nemo_relay(
    redis_url: str, backend: StorageBackend
) -> None:
    seen = await run_side_by_side("openai", redis_url, backend, openai_runs())
    rewritten = changed(seen)
    assert len(rewritten) >= 12
    for body in rewritten:  # every rewrite canonicalizes the tools
        tool = body["tools"][0]
        parameters = tool["function"]["parameters"] if "messages" in body else tool["parameters"]
        assert type(parameters["x"]) is int
    repeated = [body for body in rewritten if body["model"] == "gpt-4o-mini"]
    assert any("messages" in body for body in repeated)
    assert any("input" in body for body in repeated)
    for body in repeated:  # the repeated conversations' image parts are canonical too
        if "messages" in body:
            assert type(body["messages"][1]["content"][1]["zeta"]) is int
        else:
            assert type(body["input"][0]["content"][1]["z"]) is int
    new = [body for body in rewritten if body["model"] == "gpt-4o"]
    assert new and all(
        type(body["messages"][1]["content"][1]["zeta"]) is float
        for body in new
        if "messages" in body
    )


async def test_passthrough_leaves_everything_as_nemo_relay_does(
    redis_url: str, backend: StorageBackend
) -> None:
    runs: list[Run] = [("openai_chat", [chat("same conversation")]) for _ in range(3)]
    runs += [("anthropic_messages", [anthropic_request("q", tools=anthropic_tools())])] * 3
    seen = await run_side_by_side("passthrough", redis_url, backend, runs)
    assert changed(seen) == []


def structured_anthropic(question: str) -> dict[str, Any]:
    """A block-array system, an inline system message and a structured-output contract."""
    return {
        "model": "claude-3-opus-20240229",
        "max_tokens": 64,
        "system": [{"type": "text", "text": LONG_SYSTEM}, {"type": "text", "text": "Extra rules."}],
        "tools": [
            {"name": f"tool_{n}", "description": f"Tool {n}. " * 30, "input_schema": {"z": 2.0}}
            for n in range(4)
        ],
        "response_format": {"type": "json_schema", "schema": {"a": 1.0}},
        "messages": [
            {"role": "system", "content": "Inline system rules. " * 100},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": question},
                    {"type": "image", "source": {"data": "AA", "x": 1.0}},
                ],
            },
        ],
    }


def mixed_chat() -> dict[str, Any]:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    return {
        "model": "gpt-4.1",
        "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"b": 1.0}}}],
        "messages": [
            {
                "role": "developer",
                "content": [
                    {"type": "text", "text": "dev"},
                    {"type": "file", "file": {"file_id": "f", "n": 1.0}},
                ],
            },
            {"role": "system", "content": "sys"},
            {
                "role": "user",
                "content": [{"type": "input_audio", "input_audio": {"data": "AA", "r": 2.0}}],
            },
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {
                "role": "tool",
                "tool_call_id": "c",
                "content": [{"type": "text", "text": "r"}, {"type": "custom", "v": 3.0}],
            },
            {"role": "user", "content": "go"},
        ],
    }


def mixed_responses() -> dict[str, Any]:
    return {
        "model": "gpt-4.1",
        "instructions": "Be brief. " * 50,
        "response_format": {"b": 2.0},
        "tools": [
            {"type": "function", "name": "f", "parameters": {"q": 1.0}},
            {"type": "web_search", "x": 1.0},
        ],
        "input": [
            {
                "role": "system",
                "content": [
                    {"type": "input_text", "text": "sys"},
                    {"type": "input_file", "file_id": "f", "k": 1.0},
                ],
            },
            {"role": "user", "content": [{"type": "input_image", "image_url": "u", "z": 2.0}]},
            {"type": "reasoning", "id": "r", "summary": [], "w": 1.0},
            {"role": "user", "content": "go"},
        ],
    }


@pytest.mark.parametrize(
    ("provider", "runs"),
    [
        (
            "anthropic",
            [("anthropic_messages", [structured_anthropic(f"question {n % 6}")]) for n in range(8)],
        ),
        (
            "openai",
            [("openai_chat", [mixed_chat()]) for _ in range(4)]
            + [("openai_responses", [mixed_responses()]) for _ in range(4)],
        ),
    ],
)
async def test_contracts_inline_system_and_native_parts_match_nemo_relay(
    provider: str, runs: list[Run], redis_url: str, backend: StorageBackend
) -> None:
    """Structured-output blocks, system/developer messages, native parts and items."""
    seen = await run_side_by_side(provider, redis_url, backend, runs)
    assert len(changed(seen)) >= 2


async def agents_side_by_side(
    provider_name: str, native_url: str, our_url: str, runs: list[Run]
) -> list[dict[str, Any]]:
    """The same scripted agent under NeMo Relay's component and under ours (the bridge),
    each learning into its own prefix: the bodies their provider callables got, run by run."""
    bodies: list[dict[str, Any]] = []
    with (
        NativeAgent(provider_name, native_url) as native,
        NativeAgent(provider_name, our_url, ours=True) as ours,
    ):
        for surface, requests in runs:
            theirs, mine = native.run(surface, requests), ours.run(surface, requests)
            for request, relay, our_body in zip(requests, theirs, mine, strict=True):
                assert json.dumps(our_body, sort_keys=True) == json.dumps(relay), request
            bodies += theirs
    return bodies


@pytest.mark.parametrize(
    ("provider_name", "runs"),
    [("anthropic", anthropic_runs), ("openai", openai_runs)],
)
async def test_our_runtime_sends_the_bodies_nemo_relay_sends(
    provider_name: str, runs: Any, redis_url: str
) -> None:
    """Issue 12's acceptance: same agent, same config, same requests reach the provider."""
    server, prefix = redis_url.split("?key_prefix=")
    scripted = runs()
    bodies = await agents_side_by_side(
        provider_name, redis_url, f"{server}?key_prefix={prefix}ours:", scripted
    )
    sent = [bare for _, batch in scripted for bare in batch]
    rewritten = [
        body
        for bare, body in zip(sent, bodies, strict=True)
        if json.dumps(body) != json.dumps(bare, sort_keys=True)
    ]
    assert len(rewritten) > 10  # the comparison covers rewritten bodies, not only bare ones
