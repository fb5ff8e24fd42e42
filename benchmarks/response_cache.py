"""Overhead of the response cache on a 20-message request (run on demand, not by pytest).

    python -m benchmarks.response_cache [--redis-url redis://127.0.0.1:6379/0] [--count 2000]

Measures, as medians over many calls of ``ResponseCache.call_llm``:

- hit overhead, memory store (target <= 30 us);
- hit overhead, Redis store, next to the bare ``GET`` round trip of the same
  entry by a client configured like the store's (target <= round trip + 50 us);
- first-sight hit overhead: an entry this cache instance never keyed (stored by
  another instance on the same store, as another worker's entry is on Redis), so
  the key is derived from scratch rather than found in the instance's memo;
- miss overhead (key derivation, lookup, store) against a no-op provider, both stores.

Every call gets a request object of its own, decoded from the same JSON text
(as NeMo Relay hands each call a freshly decoded body), so nothing can be
remembered by object identity. The cases of one figure run interleaved, call by
call (bare provider, hit, bare GET, ...), so a change in machine load moves all
of them alike; the load average is printed with the figures. The provider is an
in-process coroutine returning a fixed answer, so every microsecond measured is
the cache's. Redis keys live under a prefix of the benchmark's own and are
deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from adaptive.cache import CacheOptions, ResponseCache, ResponseCacheConfig
from adaptive.cache.savings import CacheDecision

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

Case = Callable[[Any], Awaitable[Any]]
"""One timed call; its argument is made (untimed) just before it by the case's ``prepare``."""
Prepare = Callable[[int], Any]


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


def decoder(variant: int) -> Prepare:
    """Fresh request objects, all equal to ``request(variant)``, decoded from its JSON text.

    Each is made just before its call, as NeMo Relay decodes each call's body,
    so it shares nothing with earlier requests and is as warm in the CPU caches
    as a just-decoded request is.
    """
    text = json.dumps(request(variant))
    return lambda _: json.loads(text)


def variants(first: int) -> Prepare:
    """Request ``first + index``, freshly decoded: a different request every call."""
    return lambda index: json.loads(json.dumps(request(first + index)))


async def provider() -> dict[str, Any]:
    return ANSWER


def unprepared(_: int) -> None:
    return None


async def interleaved(cases: dict[str, tuple[Prepare, Case]], count: int) -> dict[str, float]:
    """Median microseconds of each case's call, the cases run in turn ``count`` times."""
    samples: dict[str, list[int]] = {name: [] for name in cases}
    for index in range(count):
        for name, (prepare, run) in cases.items():
            argument = prepare(index)
            started = time.perf_counter_ns()
            await run(argument)
            samples[name].append(time.perf_counter_ns() - started)
    return {name: statistics.median(values) / 1000 for name, values in samples.items()}


async def measure(
    cache: ResponseCache, first_sight: ResponseCache, count: int, extra: dict[str, Case]
) -> dict[str, float]:
    """Hit, first-sight hit and miss overheads over the bare provider call (plus ``extra``)."""
    await cache.call_llm("openai", {}, request(0), provider)  # stores the entry hits read
    for variant in range(1, count + 1):  # stored by ``cache``: ``first_sight`` never keyed them
        await cache.call_llm("openai", {}, request(variant), provider)

    def llm(target: ResponseCache) -> Case:
        return lambda body: target.call_llm("openai", {}, body, provider)

    bare: tuple[Prepare, Case] = (unprepared, lambda _: provider())
    figures = await interleaved(
        {
            "bare": bare,
            "hit": (decoder(0), llm(cache)),
            **{name: (unprepared, run) for name, run in extra.items()},
        },
        count,
    )
    other = await interleaved(
        {
            "bare": bare,
            "first_sight": (variants(1), llm(first_sight)),
            "miss": (variants(count + 1), llm(cache)),
        },
        count,
    )
    assert cache.savings.total().hits >= count and first_sight.savings.total().hits == count
    return {
        "hit_us": figures["hit"] - figures["bare"],
        "first_sight_us": other["first_sight"] - other["bare"],
        "miss_us": other["miss"] - other["bare"],
        **{name: figures[name] for name in extra},
    }


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


async def bench_memory(count: int) -> None:
    memory = ResponseCache(ResponseCacheConfig(namespace="bench"), CacheOptions())
    first_sight = ResponseCache(memory.config, memory.options, store=memory.store)
    figures = await measure(memory, first_sight, count, {})
    print(
        f"memory: hit overhead median {figures['hit_us']:.1f} us (target <= 30 us); "
        f"first-sight hit {figures['first_sight_us']:.1f} us; "
        f"miss overhead median {figures['miss_us']:.1f} us  [{load()}]",
        flush=True,
    )


async def bench_redis(url: str, count: int) -> None:
    from redis.asyncio import Redis

    prefix = f"adaptive-bench:{uuid.uuid4().hex[:8]}:"
    section = {
        "namespace": "bench",
        "backend": {"kind": "redis", "config": {"url": url, "key_prefix": prefix}},
    }
    options = CacheOptions()
    cache = ResponseCache(ResponseCacheConfig.model_validate(section), options)
    first_sight = ResponseCache(cache.config, options)
    client = Redis.from_url(  # configured as RedisCacheStore.from_url configures the store's
        url,
        socket_timeout=options.redis_timeout_s,
        socket_connect_timeout=options.redis_timeout_s,
        retry_on_timeout=False,
    )
    try:
        keyed: list[str] = []

        def listen(decision: CacheDecision) -> None:
            keyed.append(decision.key_hash or "")

        cache.add_listener(listen)
        await cache.call_llm("openai", {}, request(0), provider)  # the entry hits read
        cache.remove_listener(listen)
        entry_key = f"{prefix}{keyed[0]}"

        async def bare_get(_: int) -> Any:
            return await client.get(entry_key)

        figures = await measure(cache, first_sight, count, {"get": bare_get})
        round_trip = figures["get"]
        print(
            f"redis: bare GET round trip median {round_trip:.1f} us; hit overhead median "
            f"{figures['hit_us']:.1f} us (target <= {round_trip + 50:.1f} us = round trip + 50); "
            f"first-sight hit {figures['first_sight_us']:.1f} us; "
            f"miss overhead median {figures['miss_us']:.1f} us  [{load()}]",
            flush=True,
        )
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await cache.close()
        await first_sight.close()


async def main(args: argparse.Namespace) -> None:
    await bench_memory(args.count)
    if args.redis_url:
        await bench_redis(args.redis_url, args.count)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--count", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
