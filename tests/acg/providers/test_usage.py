"""Provider cache usage from responses and from what NeMo Relay records on LLM end events."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from adaptive.acg.providers.usage import CacheUsage, cache_usage, cache_usage_from_llm_end
from tests.acg.providers.side_by_side import ROOT

ANTHROPIC: dict[str, Any] = {
    "id": "msg",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "usage": {
        "input_tokens": 50,
        "output_tokens": 7,
        "cache_read_input_tokens": 4000,
        "cache_creation_input_tokens": 1200,
    },
}
CHAT: dict[str, Any] = {
    "id": "chat",
    "object": "chat.completion",
    "model": "gpt-4o",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    },
}
RESPONSES: dict[str, Any] = {
    "id": "resp",
    "object": "response",
    "model": "gpt-4o",
    "status": "completed",
    "output": [
        {
            "type": "message",
            "id": "m",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "ok"}],
        }
    ],
    "usage": {
        "input_tokens": 3000,
        "output_tokens": 50,
        "total_tokens": 3050,
        "input_tokens_details": {"cached_tokens": 2048},
    },
}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (ANTHROPIC, CacheUsage(4000, 1200)),
        (CHAT, CacheUsage(1920, None)),
        (RESPONSES, CacheUsage(2048, None)),
        ({"usage": {"cache_read_tokens": 5, "cache_write_tokens": 3}}, CacheUsage(5, 3)),
        ({"usage": {"input_tokens": 5, "cache_read_input_tokens": 0}}, CacheUsage(0, None)),
        ({"usage": {"prompt_tokens": 20}}, CacheUsage()),
        ({"choices": []}, CacheUsage()),
        ({"usage": None}, CacheUsage()),
        ("not a response", CacheUsage()),
    ],
)
def test_each_provider_shape_reads_into_one_record(response: Any, expected: CacheUsage) -> None:
    assert cache_usage(response) == expected


@pytest.mark.parametrize(
    "value", [-5, -0.5, float("nan"), float("inf"), "12", True, None, 3.5, [1], {"n": 1}]
)
def test_a_figure_that_is_not_a_token_count_counts_as_absent(value: Any) -> None:
    anthropic = {"usage": {"cache_read_input_tokens": value, "cache_creation_input_tokens": 7}}
    assert cache_usage(anthropic) == CacheUsage(None, 7)
    chat = {"usage": {"prompt_tokens_details": {"cached_tokens": value}}}
    assert cache_usage(chat) == CacheUsage()


def test_a_whole_float_is_a_count() -> None:
    assert cache_usage({"usage": {"cache_read_input_tokens": 12.0}}) == CacheUsage(12, None)


def relay_end_events(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.acg.providers.relay_scripts", "usage"],
        input=json.dumps(items),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    events: list[dict[str, Any]] = json.loads(completed.stdout)
    return events


def test_what_nemo_relay_records_on_the_end_event_reads_the_same() -> None:
    anthropic_request = {
        "model": "claude-sonnet-4-5",
        "system": "s",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    chat_request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    no_cache = {**ANTHROPIC, "usage": {"input_tokens": 5, "output_tokens": 1}}
    negative = {**CHAT, "usage": {**CHAT["usage"], "prompt_tokens_details": {"cached_tokens": -1}}}
    items = [
        {"surface": "anthropic_messages", "request": anthropic_request, "response": ANTHROPIC},
        {"surface": "openai_chat", "request": chat_request, "response": CHAT},
        {
            "surface": "openai_responses",
            "request": {"model": "gpt-4o", "input": "hi"},
            "response": RESPONSES,
        },
        {"surface": "anthropic_messages", "request": anthropic_request, "response": no_cache},
        {"surface": "openai_chat", "request": chat_request, "response": negative},
    ]
    events = relay_end_events(items)
    assert len(events) == len(items)
    annotated: list[Any] = [
        (event.get("category_profile") or {}).get("annotated_response") for event in events
    ]
    assert annotated[0]["usage"]["cache_read_tokens"] == 4000
    assert annotated[0]["usage"]["cache_write_tokens"] == 1200
    assert "cache_write_tokens" not in annotated[1]["usage"]  # OpenAI reports no writes
    assert annotated[4] is None  # NeMo Relay drops the annotation over a negative figure
    expected = [CacheUsage(4000, 1200), CacheUsage(1920, None), CacheUsage(2048, None)]
    expected += [CacheUsage(), CacheUsage()]
    for event, recorded, item, wanted in zip(events, annotated, items, expected, strict=True):
        assert cache_usage_from_llm_end(event) == wanted
        assert cache_usage(item["response"]) == wanted
        assert recorded is None or cache_usage(recorded) == wanted
