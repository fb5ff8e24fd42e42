"""One OS process calling a Redis-backed ``ResponseCache`` (no NeMo Relay), for cross-process tests.

    python -m tests.cache.cache_worker --redis-url URL --key-prefix P --counter KEY \\
        --concurrency 4 --start-at EPOCH_S --delay-s 0.3

fires ``concurrency`` identical deterministic calls at ``start-at``; the provider
counts itself with ``INCR counter`` in Redis, so every process's calls add up.
Prints the responses and the cache's savings snapshot as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import redis.asyncio as redis_async

from adaptive.cache import ResponseCache, ResponseCacheConfig

BODY = {
    "model": "demo-model",
    "messages": [{"role": "user", "content": "shared"}],
    "temperature": 0,
}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    config = ResponseCacheConfig.model_validate(
        {
            "namespace": "cross-process",
            "backend": {
                "kind": "redis",
                "config": {"url": args.redis_url, "key_prefix": args.key_prefix},
            },
        }
    )
    counter = redis_async.Redis.from_url(args.redis_url)

    async def provider() -> dict[str, Any]:
        calls = await counter.incr(args.counter)
        await asyncio.sleep(args.delay_s)
        return {
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "shared answer"},
                    "finish_reason": "stop",
                }
            ],
            "call": int(calls),
        }

    async with ResponseCache(config) as cache:
        await asyncio.sleep(max(0.0, args.start_at - time.time()))
        responses = await asyncio.gather(
            *(cache.call_llm("openai", {}, BODY, provider) for _ in range(args.concurrency))
        )
        snapshot = cache.savings.snapshot()
    await counter.aclose()
    return {"responses": responses, "savings": snapshot}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--key-prefix", required=True)
    parser.add_argument("--counter", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--delay-s", type=float, default=0.0)
    json.dump(asyncio.run(main(parser.parse_args())), sys.stdout)
