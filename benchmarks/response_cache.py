"""Overhead of the response cache on a 20-message request (run on demand, not by pytest).

    python -m benchmarks.response_cache [--redis-url redis://127.0.0.1:6379/0]

Measures, as medians over many calls of ``ResponseCache.call_llm``:

- hit overhead, memory store (target <= 30 us);
- hit overhead, Redis store, next to the bare ``GET`` round trip of the same
  client (target <= round trip + 50 us);
- miss overhead (key derivation, lookup, store) against a no-op provider, both stores.

The provider is an in-process coroutine returning a fixed answer, so every
microsecond measured is the cache's. Redis keys live under a prefix of the
benchmark's own and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from adaptive.cache import CacheOptions, ResponseCache, ResponseCacheConfig

ANSWER = {
    "id": "resp-1",
    "model": "demo-model",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "answer " * 40},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960},
}


def request(variant: int = 0) -> dict[str, Any]:
    """A 20-message agent conversation with tools, deterministic."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a planner. " * 20}]
    for turn in range(19):
        role = "user" if turn % 2 == 0 else "assistant"
        messages.append({"role": role, "content": f"turn {turn}: " + "context words " * 15})
    messages[-1] = {"role": "user", "content": f"question variant {variant}"}
    tools = [
        {
            "type": "function",
            "function": {
                "name": f"tool_{i}",
                "description": "does things",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
        for i in range(5)
    ]
    return {"model": "demo-model", "messages": messages, "tools": tools, "temperature": 0}


async def provider() -> dict[str, Any]:
    return ANSWER


async def median_us(run: Callable[[int], Awaitable[Any]], count: int) -> float:
    samples = []
    for index in range(count):
        started = time.perf_counter_ns()
        await run(index)
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1000


async def bare_call_us(count: int) -> float:
    return await median_us(lambda _: provider(), count)


async def measure(cache: ResponseCache, count: int) -> dict[str, float]:
    body = request()
    await cache.call_llm("openai", {}, body, provider)  # store it
    bare = await bare_call_us(count)
    hit = await median_us(lambda _: cache.call_llm("openai", {}, body, provider), count)
    fresh = [request(variant) for variant in range(1, count + 1)]
    miss = await median_us(lambda i: cache.call_llm("openai", {}, fresh[i], provider), count)
    return {"hit_us": hit - bare, "miss_us": miss - bare}


async def redis_round_trip_us(url: str, count: int) -> float:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    await client.set("adaptive-bench:rt", b"x")
    try:
        return await median_us(lambda _: client.get("adaptive-bench:rt"), count)
    finally:
        await client.delete("adaptive-bench:rt")
        await client.aclose()


async def main(args: argparse.Namespace) -> None:
    memory = ResponseCache(ResponseCacheConfig(namespace="bench"), CacheOptions())
    figures = await measure(memory, args.count)
    print(
        f"memory: hit overhead median {figures['hit_us']:.1f} us (target <= 30 us); "
        f"miss overhead median {figures['miss_us']:.1f} us"
    )
    if args.redis_url:
        prefix = f"adaptive-bench:{uuid.uuid4().hex[:8]}:"
        section = {
            "namespace": "bench",
            "backend": {"kind": "redis", "config": {"url": args.redis_url, "key_prefix": prefix}},
        }
        cache = ResponseCache(ResponseCacheConfig.model_validate(section))
        round_trip = await redis_round_trip_us(args.redis_url, args.count)
        figures = await measure(cache, args.count)
        print(
            f"redis: bare GET round trip median {round_trip:.1f} us; hit overhead median "
            f"{figures['hit_us']:.1f} us (target <= {round_trip + 50:.1f} us = round trip + 50); "
            f"miss overhead median {figures['miss_us']:.1f} us"
        )
        from redis.asyncio import Redis

        client = Redis.from_url(args.redis_url)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await cache.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--count", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
