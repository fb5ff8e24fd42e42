"""OpenAI Chat and Responses: canonical tools and stable-prefix content, nothing else."""

from __future__ import annotations

import json
from typing import Any

from adaptive.acg.providers import OpenAICacheProvider
from adaptive.acg.providers.relay_json import canonical_reparse
from adaptive.hot_cache import HotCache
from tests.acg.providers.support import AGENT, LONG_SYSTEM, frozen, learn, relay_bytes

TOOLS = [
    {
        "type": "function",
        "function": {
            "parameters": {
                "type": "object",
                "properties": {"n": {"minimum": 1.0, "type": "number"}},
            },
            "name": "search",
        },
    },
    {"type": "function", "function": {"name": "fetch", "parameters": {"maximum": 10.0}}},
]
IMAGE = {"type": "image_url", "zeta": 1.0, "image_url": {"url": "http://x/a.png", "detail": "low"}}


def rewrite(request: dict[str, Any], cache: HotCache) -> dict[str, Any]:
    before = frozen(request)
    body = OpenAICacheProvider().rewrite(request, cache, agent_id=AGENT)
    assert relay_bytes(request) == relay_bytes(before)  # never mutated
    return body


def chat(question: Any, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": LONG_SYSTEM}, *(history or [])]
    return {
        "model": "gpt-4o",
        "tools": TOOLS,
        "messages": [*messages, {"role": "user", "content": question}],
    }


def test_chat_tools_are_canonical_once_the_scaffold_is_learned() -> None:
    cache = learn([chat(f"question {n}") for n in range(2)])
    request = chat([{"type": "text", "text": "new"}, IMAGE])
    body = rewrite(request, cache)
    assert body["tools"] == [canonical_reparse(tool) for tool in TOOLS]
    assert list(body["tools"][0]["function"]) == ["name", "parameters"]
    assert type(body["tools"][0]["function"]["parameters"]["properties"]["n"]["minimum"]) is int
    # the new question is past the stable prefix: its image part is left as sent
    assert body["messages"] == request["messages"]
    assert relay_bytes(body["messages"]) == relay_bytes(request["messages"])
    assert "cache_control" not in json.dumps(body)


def test_chat_parts_of_the_stable_prefix_are_canonical_and_text_parts_untouched() -> None:
    history: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "look"}, IMAGE]}
    ]
    request = chat("the question", history)
    cache = learn([request] * 3)  # an exact repeat: the prefix reaches into the conversation
    body = rewrite(request, cache)
    content = body["messages"][1]["content"]
    assert content[0] is history[0]["content"][0]  # a text part stays the very same object
    assert content[1] == canonical_reparse(IMAGE) and type(content[1]["zeta"]) is int
    assert list(content[1]) == ["image_url", "type", "zeta"]
    assert (
        history[0]["content"][1]["zeta"] == 1.0 and type(history[0]["content"][1]["zeta"]) is float
    )


def test_chat_messages_are_found_by_counting_ir_blocks_as_nemo_relay_counts_them() -> None:
    """An assistant turn with a tool call yields two blocks, so every later block points
    one message further: the tool result's block selects the last user message."""
    call = {"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{}"}}
    history: list[dict[str, Any]] = [
        {"role": "assistant", "content": "Searching.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "results"},
    ]
    request = chat([IMAGE, {"type": "text", "text": "and?"}], history)
    request["messages"].insert(1, {"role": "user", "content": [IMAGE]})
    cache = learn([request] * 3)
    body = rewrite(request, cache)
    assert body["messages"][1]["content"][0] == canonical_reparse(IMAGE)
    assert body["messages"][4]["content"][0] == canonical_reparse(IMAGE)


def responses(question: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "instructions": LONG_SYSTEM,
        "tools": [
            {"type": "function", "name": "search", "parameters": {"type": "object", "x": 1.0}}
        ],
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "hi"},
                    {"type": "input_image", "image_url": "http://x", "z": 2.0},
                ],
            },
            {"type": "function_call", "call_id": "c", "name": "search", "arguments": '{"a": 1.0}'},
            {"type": "function_call_output", "call_id": "c", "output": "o"},
            {"role": "user", "content": question},
        ],
    }


def test_responses_tools_and_prefix_input_parts_are_canonical() -> None:
    request = responses("same question")
    cache = learn([request] * 3)
    body = rewrite(request, cache)
    assert body["tools"] == [
        {"name": "search", "parameters": {"type": "object", "x": 1}, "type": "function"}
    ]
    image = body["input"][0]["content"][1]
    assert image == {"image_url": "http://x", "type": "input_image", "z": 2}
    assert type(image["z"]) is int
    # only a part typed exactly "text" is skipped: "input_text" is canonicalized too
    assert list(body["input"][0]["content"][0]) == ["text", "type"]
    assert body["input"][1] is request["input"][1]  # no content array: nothing to canonicalize
    assert body["instructions"] == LONG_SYSTEM


def test_responses_with_a_new_conversation_only_get_canonical_tools() -> None:
    """Past the scaffold NeMo Relay binds the prefix to the whole request, so only the
    instructions and tools can match a request it has not seen verbatim."""
    learned = [responses("same question") for _ in range(3)]
    for number, request in enumerate(learned):
        request["input"][0]["content"][0]["text"] = f"conversation {number}"
    request = responses("same question")
    body = rewrite(request, learn(learned))
    assert type(body["tools"][0]["parameters"]["x"]) is int
    assert body["input"] is request["input"]


def test_a_string_input_has_no_items_to_canonicalize() -> None:
    requests = [
        {"model": "gpt-4o", "instructions": LONG_SYSTEM, "input": f"q{n}", "tools": TOOLS}
        for n in range(3)
    ]
    body = rewrite(requests[2], learn(requests[:2]))
    assert (
        body["input"] == "q2" and type(body["tools"][1]["function"]["parameters"]["maximum"]) is int
    )


def test_nothing_changes_without_two_observations_and_a_matching_prefix() -> None:
    request = chat("q")
    assert json.dumps(rewrite(request, HotCache())) == json.dumps(request)
    assert json.dumps(rewrite(request, learn([chat("other")]))) == json.dumps(request)


def test_anthropic_requests_are_not_openais_business() -> None:
    request = {
        "model": "claude-sonnet-4-5",
        "system": LONG_SYSTEM,
        "tools": [],
        "messages": [{"role": "user", "content": "q"}],
    }
    cache = learn([request] * 3)
    assert json.dumps(rewrite(request, cache)) == json.dumps(request)
