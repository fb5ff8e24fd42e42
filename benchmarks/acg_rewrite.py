"""Per-request cost of the provider-native ACG rewrite once the stable prefix is known.

    python -m benchmarks.acg_rewrite [--calls 20000]

An agent's conversation of 20 messages with 10 tools, as an OpenAI Chat
request (system message, 9 earlier turns, the new question) and as an
Anthropic Messages request (top-level system; 9 earlier turns, the new
question and an assistant prefill). The learned state is what ACG learns
from the requests of 30 earlier conversations (so the stable prefix is the
system prompt and the tools: NeMo Relay binds a prefix that reaches into the
conversation to the whole request, and rewrites only exact repeats of it).
Each timed call rewrites the next request of a new conversation the way an
agent builds it: the same system prompt, tool list and earlier message
objects, and a new question. The "rebuilt" cases deep-copy every request
first (equal content, all new containers; ``deepcopy`` still shares the
strings), as a framework that converts its messages to dicts on every call
would send them. The "from JSON" cases are what an execution intercept gets
from NeMo Relay: ``request.content`` freshly converted on every call, so each
request is parsed from its JSON text just before its call (outside the
timing) and dropped after it; no object, not even a string, is shared with
an earlier request. Every call is timed alone with ``perf_counter_ns`` in
one process.

Target: <= 50 us median per rewrite.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from adaptive.acg import analyze_profile_stability, build_prompt_ir
from adaptive.acg.providers import CacheProvider, provider_named
from adaptive.acg.providers.decoder import RequestDecoder
from adaptive.hot_cache import HotCache

AGENT = "planner"
LEARNED_REQUESTS = 30
SYSTEM = "You are a careful research planner. Break questions into searches. " * 80
PREFILL = {"role": "assistant", "content": "Let me plan the searches."}


def tools(anthropic: bool) -> list[dict[str, Any]]:
    schema = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "what to look for"},
            "limit": {"type": "integer", "minimum": 1.0, "maximum": 50},
        },
        "required": ["query"],
    }
    named = [(f"tool_{index}", f"Tool {index} looks things up. " * 6) for index in range(10)]
    if anthropic:
        return [{"name": n, "description": d, "input_schema": schema} for n, d in named]
    return [
        {"type": "function", "function": {"name": n, "description": d, "parameters": schema}}
        for n, d in named
    ]


def history(anthropic: bool, topic: int) -> list[dict[str, Any]]:
    """System (OpenAI only: Anthropic's is top level) and 9 earlier question/answer turns."""
    turns: list[dict[str, Any]] = [] if anthropic else [{"role": "system", "content": SYSTEM}]
    for turn in range(9):
        turns.append({"role": "user", "content": f"Question {turn} about topic {topic}."})
        turns.append({"role": "assistant", "content": f"Answer {turn} on topic {topic}. " * 4})
    return turns


class Conversation:
    """Requests of one conversation that differ only in the newest question."""

    def __init__(self, anthropic: bool, topic: int, shared_tools: list[dict[str, Any]]) -> None:
        self.anthropic = anthropic
        self.tools = shared_tools
        self.history = history(anthropic, topic)

    def request(self, number: int) -> dict[str, Any]:
        question = {"role": "user", "content": f"New question number {number}?"}
        messages = [*self.history, question]
        if not self.anthropic:
            return {"model": "gpt-4o", "messages": messages, "tools": self.tools}
        messages.append(PREFILL)
        body = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": SYSTEM}
        return {**body, "messages": messages, "tools": self.tools}


def learned_cache(provider: CacheProvider, anthropic: bool) -> HotCache:
    """What ACG learns from earlier conversations, as NeMo Relay learns it from their events."""
    decoder = RequestDecoder()
    shared = tools(anthropic)
    conversations = [Conversation(anthropic, topic, shared) for topic in range(LEARNED_REQUESTS)]
    requests = [conversation.request(0) for conversation in conversations]
    observations = [build_prompt_ir(decoder.decode(request).annotated()) for request in requests]
    key = provider.learning_key(requests[0], agent_id=AGENT)
    assert key is not None
    result = analyze_profile_stability(observations, key)
    return HotCache(acg_profiles={key: result}, acg_profile_observation_counts={key: 30})


def time_calls(calls: int, one: Callable[[int], object]) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for number in range(calls):
        start = clock()
        one(number)
        samples.append(clock() - start)
    return samples


def time_fresh(texts: list[str], one: Callable[[dict[str, Any]], object]) -> list[int]:
    """Each request parsed from its JSON text just before its call, outside the timing."""
    samples = []
    clock = time.perf_counter_ns
    loads = json.loads
    for text in texts:
        request = loads(text)
        start = clock()
        one(request)
        samples.append(clock() - start)
    return samples


def summarize(name: str, samples: list[int]) -> None:
    ordered = sorted(samples)
    median = statistics.median(ordered) / 1000
    p99 = ordered[int(len(ordered) * 0.99)] / 1000
    print(f"{name:<58} median {median:7.2f} us   p99 {p99:7.2f} us")


def measure(name: str, calls: int, anthropic: bool) -> None:
    provider = provider_named(name)
    cache = learned_cache(provider, anthropic)
    conversation = Conversation(anthropic, LEARNED_REQUESTS, tools(anthropic))
    probe = provider.rewrite(conversation.request(10**6), cache, agent_id=AGENT)
    bare = conversation.request(10**6)
    assert json.dumps(probe) != json.dumps(bare), f"{name}: nothing was rewritten"
    requests = [conversation.request(LEARNED_REQUESTS + number) for number in range(calls)]

    def rewrite(number: int) -> object:
        return provider.rewrite(requests[number], cache, agent_id=AGENT)

    summarize(f"{name}: shared history and tools", time_calls(calls, rewrite))
    rebuilt = [copy.deepcopy(request) for request in requests[: calls // 4]]

    def rewrite_rebuilt(number: int) -> object:
        return provider.rewrite(rebuilt[number], cache, agent_id=AGENT)

    summarize(f"{name}: every dict rebuilt", time_calls(len(rebuilt), rewrite_rebuilt))
    rebuilt.clear()
    texts = [json.dumps(request) for request in requests[: calls // 4]]
    same = provider.rewrite(json.loads(texts[0]), cache, agent_id=AGENT)
    as_shared = provider.rewrite(requests[0], cache, agent_id=AGENT)
    assert json.dumps(same, sort_keys=True) == json.dumps(as_shared, sort_keys=True)

    def rewrite_fresh(request: dict[str, Any]) -> object:
        return provider.rewrite(request, cache, agent_id=AGENT)

    fresh = time_fresh(texts, rewrite_fresh)
    summarize(f"{name}: one fresh request converted from JSON per call", fresh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    measure("anthropic", args.calls, anthropic=True)
    measure("openai", args.calls, anthropic=False)


if __name__ == "__main__":
    main()
