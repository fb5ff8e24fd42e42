"""Scripted LLM and tool calls through the real NeMo Relay, cached natively or by us.

Run as a script so NeMo Relay's global registrations stay out of the test process::

    python -m tests.cache.relay_cache_agent --mode native|ours --config '{...}' \\
        --script scripted|ttl|repeat|keys [--cases '[...]']

prints one JSON object: provider and tool call counts, the responses, and the
``response_cache`` marks (data and metadata).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import nemo_relay

DET = {"model": "demo-model", "messages": [{"role": "user", "content": "plan"}], "temperature": 0}
NONDET = {
    "model": "demo-model",
    "messages": [{"role": "user", "content": "riff"}],
    "temperature": 0.7,
}


class Counters:
    def __init__(self) -> None:
        self.provider = 0
        self.tools: dict[str, int] = {}

    async def provider_call(self, request: nemo_relay.LLMRequest) -> dict[str, Any]:
        self.provider += 1
        return {
            "id": f"resp-{self.provider}",
            "model": "demo-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def tool(self, name: str) -> Any:
        async def run(args: Any) -> nemo_relay.ToolExecutionResult[Any]:
            self.tools[name] = self.tools.get(name, 0) + 1
            if name == "flaky_lookup":
                return nemo_relay.ToolExecutionResult({"error": "upstream down"})
            return nemo_relay.ToolExecutionResult({"tool": name, "n": self.tools[name]})

        return run


async def llm(counters: Counters, body: dict[str, Any], provider: str = "openai") -> Any:
    request = nemo_relay.LLMRequest({}, body)
    return await nemo_relay.llm.execute(provider, request, counters.provider_call)


async def tool(counters: Counters, name: str, args: Any) -> Any:
    result = await nemo_relay.tools.execute(name, args, counters.tool(name))
    return result.result


async def scripted(counters: Counters) -> list[Any]:
    """Deterministic and not, tools in and out of classes, error-shaped results."""
    out = [await llm(counters, DET) for _ in range(3)]
    out += [await llm(counters, NONDET) for _ in range(2)]
    out += [await tool(counters, "docs_search", {"q": "x", "trace_id": i}) for i in range(3)]
    out += [await tool(counters, "web_fetch", {"url": "u"}) for _ in range(2)]
    out += [await tool(counters, "flaky_lookup", {"q": "x"}) for _ in range(2)]
    out += [await tool(counters, "always_live", {"q": "x"}) for _ in range(2)]
    return out


async def ttl(counters: Counters) -> list[Any]:
    """Expiry: a repeat inside the TTL hits, one after it runs live."""
    out = [await llm(counters, DET), await llm(counters, DET)]
    await asyncio.sleep(1.2)
    out.append(await llm(counters, DET))
    return out


async def repeat(counters: Counters) -> list[Any]:
    return [await llm(counters, DET) for _ in range(2)]


async def keys(counters: Counters, cases: list[Any]) -> list[Any]:
    return [await llm(counters, body, provider) for provider, body in cases]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    marks: list[dict[str, Any]] = []

    def record(event: Any) -> None:
        event = event.to_dict()
        if event.get("kind") == "mark" and event.get("name") == "response_cache":
            marks.append({"data": event["data"], "metadata": event["metadata"]})

    nemo_relay.subscribers.register("recorder", record)
    config = json.loads(args.config)
    runtime: Any = None
    cache: Any = None
    if args.mode == "native":
        runtime = nemo_relay.adaptive.AdaptiveRuntime({"version": 1, "response_cache": config})
        await runtime.register()
    else:
        from adaptive.cache import CacheOptions, ResponseCache, ResponseCacheConfig
        from adaptive.relay.response_cache import register_response_cache

        options = CacheOptions(bypass_seed=7)
        cache = ResponseCache(ResponseCacheConfig.model_validate(config), options)
        register_response_cache(cache)
    counters = Counters()
    if args.script == "keys":
        responses = await keys(counters, json.loads(args.cases))
    else:
        responses = await {"scripted": scripted, "ttl": ttl, "repeat": repeat}[args.script](
            counters
        )
    await nemo_relay.subscribers.flush_async()
    if runtime is not None:
        await runtime.shutdown()
    if cache is not None:
        await cache.close()
    return {
        "provider": counters.provider,
        "tools": counters.tools,
        "responses": responses,
        "marks": marks,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["native", "ours"], required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--script", default="scripted")
    parser.add_argument("--cases", default="[]")
    json.dump(asyncio.run(main(parser.parse_args())), sys.stdout)
    sys.stdout.flush()
    # NeMo Relay 0.10.4's native Redis cache store can crash at interpreter teardown
    # (SIGSEGV after all output); everything is flushed, so leave without teardown.
    os._exit(0)
