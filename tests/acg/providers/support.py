"""Learned state for the provider tests, learned the way NeMo Relay learns it.

NeMo Relay's ACG learner reads each LLM call's ``annotated_request`` (what the
codec decoded), groups the prompt IRs by learning key and stores a stability
result per key plus the best one under the agent id. ``learn`` does the same
with this package's learner pieces; the decoder's annotated request is the
one NeMo Relay records (checked live in ``test_decoder``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from adaptive.acg import analyze_profile_stability, build_prompt_ir, derive_learning_key
from adaptive.acg.providers.decoder import RequestDecoder
from adaptive.hot_cache import HotCache

AGENT = "planner"
SONNET = "claude-sonnet-4-5"
LONG_SYSTEM = "You are a meticulous research planner who cites every source. " * 80


def learn(requests: list[dict[str, Any]], cache: HotCache | None = None) -> HotCache:
    """A hot cache after learning from ``requests`` (one run each, in order)."""
    cache = cache if cache is not None else HotCache()
    decoder = RequestDecoder()
    windows: dict[str, list[Any]] = {}
    for request in requests:
        annotated = decoder.decode(request).annotated()
        key = derive_learning_key(AGENT, annotated)
        windows.setdefault(key, []).append(build_prompt_ir(annotated))
        result = analyze_profile_stability(windows[key], key)
        cache.acg_profiles = {**cache.acg_profiles, key: result}
        counts = {**cache.acg_profile_observation_counts, key: result.total_observations}
        cache.acg_profile_observation_counts = counts
        cache.acg_stability = result
        cache.acg_observation_count = result.total_observations
    return cache


def only_aggregate(cache: HotCache) -> HotCache:
    """What a freshly started NeMo Relay holds: the aggregate, no per-profile results."""
    return HotCache(
        acg_stability=cache.acg_stability, acg_observation_count=cache.acg_observation_count
    )


def relay_bytes(body: Any) -> str:
    """The bytes NeMo Relay's provider callable would serialize the body to."""
    return json.dumps(body, sort_keys=True)


def frozen(value: Any) -> Any:
    """A deep copy to compare an input against after a rewrite (must be unchanged)."""
    return copy.deepcopy(value)


def anthropic_tools(count: int = 10, minimum: float = 1.0) -> list[dict[str, Any]]:
    return [
        {
            "name": f"tool_{index}",
            "description": f"Tool {index} looks up one kind of source. " * 8,
            "input_schema": {
                "type": "object",
                "properties": {"q": {"type": "string"}, "n": {"minimum": minimum}},
                "required": ["q"],
            },
        }
        for index in range(count)
    ]


def anthropic_request(
    question: str,
    *,
    model: str = SONNET,
    system: Any = LONG_SYSTEM,
    tools: list[dict[str, Any]] | None = None,
    messages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {"model": model, "max_tokens": 256, "system": system}
    if tools is not None:
        request["tools"] = tools
    request["messages"] = [*(messages or []), {"role": "user", "content": question}]
    return request
