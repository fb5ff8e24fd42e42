"""Raw provider requests covering the shapes the three ACG codecs decode, refuse or keep native.

Shared by the decoder's live comparison with NeMo Relay's codecs and the
prefix tests. Each entry is ``(surface, request)``.
"""

from __future__ import annotations

from typing import Any

ANTHROPIC = "anthropic_messages"
CHAT = "openai_chat"
RESPONSES = "openai_responses"

ANTHROPIC_TOOL = {
    "name": "search",
    "description": "Search the web",
    "input_schema": {
        "type": "object",
        "properties": {"q": {"type": "string"}, "n": {"minimum": 1.0}},
    },
}
CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        "strict": True,
    },
}


def anthropic_requests() -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "system": "You are helpful.",
        "messages": [{"role": "user", "content": "hi"}],
    }
    parts = [
        {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
        {"type": "document", "source": {"type": "text", "data": "doc"}, "title": "t"},
        {"type": "tool_use", "id": "tu1", "name": "search", "input": {"q": 1.5}, "z": 1},
        {"type": "tool_result", "tool_use_id": "tu1", "content": [{"type": "text", "text": "r"}]},
        {"type": "tool_result", "tool_use_id": "tu1", "content": "r", "is_error": True},
        {"type": "thinking", "thinking": "hmm", "signature": "s"},
        {"text": "no type"},
    ]
    return [
        base,
        {
            **base,
            "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        },
        {**base, "messages": [{"role": "user", "content": parts}]},
        {
            **base,
            "messages": [
                {"role": "assistant", "content": parts[:4]},
                {"role": "user", "content": "q"},
            ],
        },
        {
            **base,
            "messages": [
                {"role": "system", "content": "inline system"},
                {"role": "user", "content": "q"},
            ],
        },
        {**base, "messages": [{"role": "user", "content": "q", "name": "x"}]},
        {**base, "messages": [{"role": "critic", "content": "q"}]},
        {**base, "messages": [{"role": "critic", "content": 5}]},
        {**base, "messages": [{"role": ["user"], "content": "q"}]},
        {
            **base,
            "tools": [
                ANTHROPIC_TOOL,
                {**ANTHROPIC_TOOL, "name": "fetch", "cache_control": {"type": "ephemeral"}},
            ],
        },
        {**base, "tools": [{"name": "n", "input_schema": None, "strict": False}]},
        {**base, "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]},
        {**base, "tools": [{"type": None, "name": "n", "input_schema": {}}]},
        {**base, "tools": [{"name": None, "input_schema": {}}]},
        {**base, "tools": None},
        {**base, "tools": [5]},
        {
            **base,
            "temperature": 1,
            "top_p": 0.9,
            "stop_sequences": ["END"],
            "top_k": 40,
            "stream": False,
        },
        {**base, "temperature": True},
        {**base, "max_tokens": 10.0},
        {**base, "max_tokens": -1},
        {**base, "stop_sequences": None, "metadata": {"user_id": "u"}, "service_tier": "auto"},
        {**base, "stop_sequences": ["a", 1]},
        {**base, "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
        {**base, "tool_choice": {"type": "any"}},
        {**base, "tool_choice": {"type": "none"}},
        {**base, "tool_choice": {"type": "tool", "name": "search"}},
        {**base, "tool_choice": {"type": "tool"}},
        {**base, "tool_choice": "auto"},
        {**base, "tool_choice": {"type": "auto", "disable_parallel_tool_use": "yes"}},
        {
            **base,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "container": "c1",
            "inference_geo": "us",
            "output_config": {"effort": "low"},
            "cache_control": {"type": "ephemeral"},
            "anthropic-user-profile-id": "p1",
        },
        {**base, "thinking": "on"},
        {**base, "response_format": {"type": "json_object"}, "custom_field": [1, 2.5]},
        {**base, "system": None},
        {**base, "system": 5},
        {**base, "messages": "hi"},
        {key: value for key, value in base.items() if key != "messages"},
        {**base, "messages": [{"role": "user"}]},
        {**base, "messages": [{"content": "x"}]},
        {**base, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
        {
            **base,
            "messages": [
                {"role": "user", "content": [{"type": "tool_use", "id": "a", "name": "b"}]}
            ],
        },
        {
            **base,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "a", "content": "c", "is_error": 1}
                    ],
                }
            ],
        },
        {**base, "model": 5},
        {**base, "model": None, "container": None},
    ]


def chat_requests() -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "hi"},
        ],
    }
    image = {
        "type": "image_url",
        "image_url": {"url": "http://x/a.png", "detail": "low", "extra": 1},
        "zeta": 1.0,
    }
    call: dict[str, Any] = {
        "id": "c1",
        "type": "function",
        "function": {"name": "search", "arguments": '{"q": 1}'},
    }
    return [
        base,
        {
            **base,
            "messages": [
                {"role": "developer", "content": "dev", "name": "d"},
                {"role": "user", "content": [{"type": "text", "text": "a", "x": 1}, image]},
            ],
        },
        {
            **base,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
                        {"type": "file", "file": {"file_id": "f"}},
                        {"type": "refusal", "refusal": "no"},
                        {"type": "custom", "v": 1},
                        {"no": "type"},
                    ],
                }
            ],
        },
        {
            **base,
            "messages": [
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "res"},
            ],
        },
        {
            **base,
            "messages": [{"role": "assistant", "content": "x", "tool_calls": None, "name": "a"}],
        },
        {**base, "messages": [{"role": "assistant", "tool_calls": [{**call, "type": "custom"}]}]},
        {**base, "messages": [{"role": "assistant", "tool_calls": [{**call, "extra": 1}]}]},
        {
            **base,
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [{**call, "function": {**call["function"], "x": 1}}],
                }
            ],
        },
        {
            **base,
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "a", "arguments": "{}"}}
                    ],
                }
            ],
        },
        {**base, "messages": [{"role": "assistant", "tool_calls": {}}]},
        {**base, "messages": [{"role": "assistant", "refusal": None, "content": "x"}]},
        {**base, "messages": [{"role": "tool", "tool_call_id": "c1", "content": "r", "name": "n"}]},
        {**base, "messages": [{"role": "function", "name": "f", "content": None}]},
        {**base, "messages": [{"role": "function", "content": "x"}]},
        {**base, "messages": [{"role": "user", "content": "x", "audio": 1}]},
        {**base, "messages": [{"role": "user", "content": [image | {"image_url": "http://x"}]}]},
        {
            **base,
            "messages": [
                {"role": "user", "content": [image | {"image_url": {"url": "u", "detail": 3}}]}
            ],
        },
        {**base, "messages": [{"role": "user", "name": 5, "content": "x"}]},
        {**base, "messages": [{"role": "user", "content": None}]},
        {
            **base,
            "tools": [
                CHAT_TOOL,
                {"type": "function", "function": {"name": "f", "parameters": None}, "x": 1},
                {"type": "custom", "custom": {"name": "c"}},
            ],
        },
        {**base, "tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]},
        {**base, "tools": [{"type": "function"}]},
        {
            **base,
            "temperature": 0.2,
            "top_p": 1,
            "max_tokens": 5,
            "max_completion_tokens": 7,
            "stop": "END",
            "n": 1,
            "seed": -3,
            "logprobs": True,
            "top_logprobs": 2,
        },
        {
            **base,
            "stop": ["a", "b"],
            "frequency_penalty": 0,
            "presence_penalty": -1.5,
            "user": "u",
            "store": False,
            "parallel_tool_calls": True,
            "stream": True,
        },
        {**base, "stop": 5},
        {**base, "max_tokens": "5"},
        {**base, "max_completion_tokens": 2**64},
        {**base, "seed": 2**63},
        {**base, "tool_choice": "auto"},
        {**base, "tool_choice": "required"},
        {**base, "tool_choice": {"type": "function", "function": {"name": "search"}}},
        {**base, "tool_choice": {"type": "allowed_tools", "mode": "auto"}},
        {**base, "tool_choice": None},
        {
            **base,
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {}}},
            "reasoning_effort": "low",
            "verbosity": "low",
        },
        {
            **base,
            "function_call": None,
            "functions": [{"name": "f"}],
            "modalities": ["text"],
            "audio": {"voice": "x"},
            "logit_bias": {"1": 2},
        },
        {**base, "modalities": "text"},
        {**base, "functions": {}},
        {
            **base,
            "prompt_cache_key": "k",
            "prompt_cache_retention": "24h",
            "prompt_cache_options": {"a": 1},
            "safety_identifier": "s",
            "stream_options": {"include_usage": True},
            "web_search_options": {},
            "prediction": {"type": "content"},
            "moderation": {"x": 1},
            "metadata": {"a": "b"},
            "service_tier": "flex",
        },
        {**base, "metadata": "m"},
        {**base, "custom_extension": {"deep": [1, 2.0]}},
        {**base, "messages": []},
        {**base, "messages": [5]},
        {**base, "model": None},
    ]


def responses_requests() -> list[dict[str, Any]]:
    base: dict[str, Any] = {"model": "gpt-4o", "instructions": "Be brief.", "input": "hi"}
    items = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "a", "z": 1},
                {"type": "input_image", "image_url": "http://x", "detail": "auto", "other": 2},
                {"type": "input_file", "file_id": "f", "filename": "n", "extra": 1},
            ],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "b", "annotations": []},
                {"type": "refusal", "refusal": "no"},
            ],
        },
        {"role": "developer", "content": "dev"},
        {"role": "system", "content": "sys"},
        {
            "type": "function_call",
            "id": "fc1",
            "call_id": "c1",
            "name": "search",
            "arguments": '{"q": 1.0, "big": 123456789012345678901234}',
            "status": "completed",
        },
        {"type": "function_call", "call_id": "c2", "name": "search", "arguments": "not json"},
        {
            "type": "function_call_output",
            "call_id": "c1",
            "output": [{"type": "input_text", "text": "o"}],
        },
        {"type": "reasoning", "id": "r1", "summary": []},
        {"role": "user", "content": "x", "id": "m1"},
        {"role": "critic", "content": "x"},
        {"role": "user", "content": [{"type": "custom_part", "v": 1}, {"no": "type"}]},
    ]
    return [
        base,
        {**base, "input": items},
        {
            **base,
            "input": [{"type": "function_call", "call_id": "c", "name": "n", "arguments": "NaN"}],
        },
        {
            **base,
            "input": [
                {"type": "function_call", "call_id": "c", "name": "n", "arguments": "[1e400]"}
            ],
        },
        {
            **base,
            "input": [
                {"type": "function_call", "call_id": "c", "name": "n", "arguments": "{}", "id": 5}
            ],
        },
        {**base, "input": [{"type": "function_call_output", "call_id": "c"}]},
        {**base, "input": [{"role": "user"}]},
        {**base, "input": [{"role": 5, "type": "message", "content": "x"}]},
        {**base, "input": 5},
        {**base, "instructions": None},
        {**base, "instructions": ["x"]},
        {"model": "gpt-4o", "instructions": "only instructions"},
        {
            **base,
            "tools": [
                {
                    "type": "function",
                    "name": "search",
                    "description": "d",
                    "parameters": {"type": "object", "x": 1.0},
                    "strict": True,
                    "extra": 1,
                },
                {
                    "type": "function",
                    "function": {"name": "nested", "parameters": None},
                    "outer": 2,
                },
                {"type": "web_search"},
                {"name": "no_type"},
            ],
        },
        {**base, "tools": [{"type": "function"}]},
        {
            **base,
            "temperature": 1,
            "top_p": 0.5,
            "max_output_tokens": 50,
            "max_tool_calls": 3,
            "top_logprobs": 0,
            "store": True,
            "stream": False,
            "background": False,
        },
        {
            **base,
            "previous_response_id": "r",
            "truncation": None,
            "reasoning": {"effort": "low"},
            "include": ["x"],
            "user": "u",
            "metadata": {},
            "service_tier": "auto",
        },
        {**base, "include": "x"},
        {
            **base,
            "truncation": "auto",
            "conversation": None,
            "context_management": [{"type": "x"}],
            "prompt": {"id": "p"},
            "text": {"format": {"type": "text"}},
        },
        {
            **base,
            "parallel_tool_calls": None,
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": False},
        },
        {
            **base,
            "parallel_tool_calls": False,
            "tool_choice": {"type": "function", "name": "search"},
        },
        {**base, "tool_choice": {"type": "tool", "function": {"name": "f"}}},
        {**base, "tool_choice": {"type": "any"}},
        {**base, "tool_choice": {"type": "function"}},
        {**base, "tool_choice": "none"},
        {**base, "tool_choice": "other"},
        {**base, "response_format": {"type": "json_object"}, "custom": 1},
        {**base, "context_management": {}},
    ]


def corpus() -> list[tuple[str, dict[str, Any]]]:
    return (
        [(ANTHROPIC, request) for request in anthropic_requests()]
        + [(CHAT, request) for request in chat_requests()]
        + [(RESPONSES, request) for request in responses_requests()]
    )
