"""ResponseCache behaviour: hits, single-flight, fail-open causes, streams and tools."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import redis

from adaptive.cache import CacheOptions, ResponseCache, ResponseCacheConfig
from adaptive.cache.facade import ToolOutcome
from adaptive.errors import ConfigError
from tests.conftest import ThrowawayRedis

BODY = {"model": "m", "messages": [{"role": "user", "content": "q"}], "temperature": 0}
ANSWER = {
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "a"}, "finish_reason": "stop"}
    ],
    "usage": {"total_tokens": 42},
}


class Provider:
    def __init__(self, response: Any = ANSWER, delay_s: float = 0.0, fail: bool = False) -> None:
        self.calls = 0
        self.response = response
        self.delay_s = delay_s
        self.fail = fail

    async def __call__(self) -> Any:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("provider down")
        return self.response


def memory_cache(**section: Any) -> ResponseCache:
    options = section.pop("options", None)
    return ResponseCache(ResponseCacheConfig.model_validate({"namespace": "t", **section}), options)


async def test_identical_deterministic_calls_reach_the_provider_once() -> None:
    cache, provider = memory_cache(), Provider()
    answers = [await cache.call_llm("openai", {}, BODY, provider) for _ in range(3)]
    assert provider.calls == 1
    assert answers == [ANSWER] * 3
    totals = cache.savings.snapshot()["by_name"]["llm:m"]
    assert (totals["hits"], totals["misses"], totals["saved_tokens"]) == (2, 1, 84)


async def test_nondeterministic_calls_run_live_unless_opted_in() -> None:
    body = {**BODY, "temperature": 0.3}
    cache, provider = memory_cache(), Provider()
    for _ in range(2):
        await cache.call_llm("openai", {}, body, provider)
    assert provider.calls == 2
    opted_in, provider = memory_cache(cache_nondeterministic=True), Provider()
    for _ in range(2):
        await opted_in.call_llm("openai", {}, body, provider)
    assert provider.calls == 1


async def test_an_invalid_section_is_refused_with_nemo_relays_message() -> None:
    with pytest.raises(ConfigError, match="namespace must identify one trusted"):
        ResponseCache(ResponseCacheConfig())


async def test_concurrent_identical_misses_call_once_and_share_the_answer() -> None:
    cache, provider = memory_cache(), Provider(delay_s=0.05)
    answers = await asyncio.gather(
        *(cache.call_llm("openai", {}, BODY, provider) for _ in range(8))
    )
    assert provider.calls == 1
    assert answers == [ANSWER] * 8
    assert cache.savings.total().coalesced == 7


async def test_a_failed_leader_is_not_cached_and_waiters_call_themselves() -> None:
    cache, provider = memory_cache(), Provider(delay_s=0.02, fail=True)
    outcomes = await asyncio.gather(
        *(cache.call_llm("openai", {}, BODY, provider) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert provider.calls == 3
    provider.fail = False
    await cache.call_llm("openai", {}, BODY, provider)
    assert provider.calls == 4  # nothing was stored by the failures


async def test_a_waiter_gives_up_after_the_bounded_wait() -> None:
    cache = memory_cache(options=CacheOptions(single_flight_wait_s=0.05))
    slow, fast = Provider(delay_s=0.5), Provider()
    leader = asyncio.create_task(cache.call_llm("openai", {}, BODY, slow))
    await asyncio.sleep(0.01)
    assert await cache.call_llm("openai", {}, BODY, fast) == ANSWER
    assert fast.calls == 1
    await leader
    assert cache.savings.failures["single_flight_timeout"] == 1


async def test_error_responses_and_oversized_responses_are_not_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failed = Provider({"error": {"message": "rate limited"}})
    cache = memory_cache()
    for _ in range(2):
        await cache.call_llm("openai", {}, BODY, failed)
    assert failed.calls == 2
    big = Provider({"choices": [{"message": {"content": "x" * 5000}}]})
    capped = memory_cache(options=CacheOptions(max_entry_bytes=1000))
    with caplog.at_level(logging.WARNING, logger="adaptive.cache.savings"):
        for _ in range(3):
            await capped.call_llm("openai", {}, BODY, big)
    assert big.calls == 3
    assert capped.savings.failures["oversized_response"] == 3
    assert sum("oversized_response" in r.getMessage() for r in caplog.records) == 1


async def test_unserializable_arguments_pass_through_counted() -> None:
    cache = memory_cache(
        tools={"enabled": True, "classes": {"c": {"cacheable": True, "members": ["t"]}}}
    )
    calls = 0

    async def tool() -> ToolOutcome:
        nonlocal calls
        calls += 1
        return ToolOutcome({"ok": True})

    for _ in range(2):
        await cache.call_tool("t", {"when": object()}, tool)
    assert calls == 2
    assert cache.savings.failures["unserializable_arguments"] == 2


async def test_tool_classes_errors_and_skipped_arguments() -> None:
    cache = memory_cache(
        tools={
            "enabled": True,
            "classes": {"docs": {"cacheable": True, "members": ["docs_*"], "arg_skip": ["trace"]}},
        }
    )
    calls: dict[str, int] = {}

    def tool(name: str, result: Any) -> Any:
        async def run() -> ToolOutcome:
            calls[name] = calls.get(name, 0) + 1
            return ToolOutcome(result, {"note": name})

        return run

    for trace in range(3):
        outcome = await cache.call_tool("docs_get", {"id": 1, "trace": trace}, tool("docs_get", 1))
    assert outcome == ToolOutcome(1, {"note": "docs_get"})
    for _ in range(2):
        await cache.call_tool("docs_err", {}, tool("docs_err", {"isError": True}))
        await cache.call_tool("other", {}, tool("other", 2))
    assert calls == {"docs_get": 1, "docs_err": 2, "other": 2}


async def test_streams_replay_their_chunks_in_order() -> None:
    cache = memory_cache()
    chunks = [
        {
            "id": "c",
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "he"}}],
        },
        {
            "id": "c",
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "llo"}, "finish_reason": "stop"}],
        },
        {"id": "c", "model": "m", "choices": [], "usage": {"total_tokens": 7}},
    ]
    opened = 0

    async def open_stream() -> Any:
        nonlocal opened
        opened += 1

        async def gen() -> Any:
            for chunk in chunks:
                yield chunk

        return gen()

    for _ in range(2):
        got = [chunk async for chunk in await cache.stream_llm("openai", {}, BODY, open_stream)]
        assert got == chunks
    assert opened == 1
    # a buffered call with the same request is served the assembled answer
    answer = await cache.call_llm("openai", {}, BODY, Provider())
    assert answer["choices"][0]["message"]["content"] == "hello"
    assert answer["usage"] == {"total_tokens": 7}


async def test_an_unfinished_stream_is_not_stored() -> None:
    cache = memory_cache()
    opened = 0

    async def open_stream() -> Any:
        nonlocal opened
        opened += 1

        async def gen() -> Any:
            yield {"choices": [{"index": 0, "delta": {"content": "cut"}}]}

        return gen()

    for _ in range(2):
        [chunk async for chunk in await cache.stream_llm("openai", {}, BODY, open_stream)]
    assert opened == 2


async def test_redis_down_runs_live_then_caching_resumes(throwaway_redis: ThrowawayRedis) -> None:
    section = {
        "namespace": "t",
        "backend": {"kind": "redis", "config": {"url": throwaway_redis.url, "key_prefix": "down:"}},
    }
    cache = ResponseCache(
        ResponseCacheConfig.model_validate(section), CacheOptions(redis_timeout_s=0.5)
    )
    provider = Provider()
    await cache.call_llm("openai", {}, BODY, provider)
    await cache.call_llm("openai", {}, BODY, provider)
    assert provider.calls == 1
    throwaway_redis.kill()
    for _ in range(3):
        assert await cache.call_llm("openai", {}, BODY, provider) == ANSWER
    assert provider.calls == 4
    assert cache.savings.failures["store_unavailable"] >= 3
    throwaway_redis.start()  # an empty server: the entry is gone, caching resumes
    await cache.call_llm("openai", {}, BODY, provider)
    await cache.call_llm("openai", {}, BODY, provider)
    assert provider.calls == 5
    await cache.close()


async def test_an_undecodable_entry_is_a_counted_miss(redis_url: str) -> None:
    from tests.cache.test_cross_process import split

    server, prefix = split(redis_url)
    section = {
        "namespace": "t",
        "backend": {"kind": "redis", "config": {"url": server, "key_prefix": prefix}},
    }
    cache, provider = ResponseCache(ResponseCacheConfig.model_validate(section)), Provider()
    await cache.call_llm("openai", {}, BODY, provider)
    client = redis.Redis.from_url(server)
    (key,) = [k for k in client.scan_iter(match=f"{prefix}sha256:*")]
    client.set(key, b"not json")
    client.close()
    await cache.call_llm("openai", {}, BODY, provider)
    assert provider.calls == 2
    assert cache.savings.failures["undecodable_entry"] >= 1
    await cache.call_llm("openai", {}, BODY, provider)
    assert provider.calls == 2  # the live answer replaced the bad value
    await cache.close()
