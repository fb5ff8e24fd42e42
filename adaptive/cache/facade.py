"""``ResponseCache``: the one object intercepts call, for whole responses, streams and tools.

Every path fails open: a store that is down, an entry that does not decode, a
response over the size cap or an argument that is not JSON means the call runs
live, uncached, and the cause is counted (and logged the first time).

Single-flight: concurrent identical misses elect one leader. In one process the
others await the leader's future; across processes sharing Redis the leader
holds a lease (``SET NX PX``) and the others poll for its entry. A waiter that
has waited ``single_flight_wait_s`` (or sees the lease vanish with no entry,
or the leader fail) calls the provider itself. Failed calls are never cached
(tool results shaped as errors only with ``cache_errors``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adaptive.cache import policy
from adaptive.cache.config import CacheOptions, ResponseCacheConfig, ToolCacheConfig
from adaptive.cache.entry import (
    CacheEntry,
    EntryDecodeError,
    decode_tool_result,
    encode_tool_result,
    now_ms,
)
from adaptive.cache.keys import Bypass, LlmKeyer, tool_key
from adaptive.cache.savings import (
    CacheDecision,
    CacheSavings,
    CacheStatus,
    reported_cost,
    usage_tokens,
)
from adaptive.cache.stores import (
    CacheStore,
    CacheStoreError,
    MemoryCacheStore,
    RedisCacheStore,
    open_store,
)
from adaptive.cache.streams import ChatStreamAssembler, replay_chunks

DecisionListener = Callable[[CacheDecision], None]


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """A tool call's result and the opaque annotation NeMo Relay carries beside it."""

    result: Any
    annotation: Any = None


@dataclass(frozen=True, slots=True)
class _Lookup:
    entry: CacheEntry | None
    failed: bool = False


_ABSENT = _Lookup(None)
_FAILED = _Lookup(None, failed=True)


class _Leader:
    """An in-process flight: waiters await ``done``; ``value`` is ``None`` if the call failed."""

    __slots__ = ("done", "value")

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.value: CacheEntry | None = None


class ResponseCache:
    """The response cache of one configuration.

    The configuration is read once, here (the keyer always did): what every
    call needs -- TTL, bypass rate, backend name -- is kept ready on the instance.
    """

    def __init__(
        self,
        config: ResponseCacheConfig,
        options: CacheOptions | None = None,
        *,
        store: CacheStore | None = None,
    ) -> None:
        self.config = config.check()
        self.options = options or CacheOptions()
        self.store = store if store is not None else open_store(config, self.options)
        self.savings = CacheSavings()
        self._keyer = LlmKeyer(config)
        self._sampler = policy.BypassSampler(self.options.bypass_seed)
        self._flights: dict[str, _Leader] = {}
        self._last_stored: dict[str, CacheEntry] = {}
        self._listeners: tuple[DecisionListener, ...] = (self.savings.record,)
        self._ttl_ms = self.config.ttl_ms
        self._bypass_rate = self.config.bypass_rate
        self._backend = self.store.kind
        # exactly ours: a subclass may wrap ``get``, so it is awaited like any other store
        self._memory = self.store if type(self.store) is MemoryCacheStore else None

    @property
    def tools(self) -> ToolCacheConfig | None:
        tools = self.config.tools
        return tools if tools is not None and tools.enabled else None

    def add_listener(self, listener: DecisionListener) -> None:
        self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: DecisionListener) -> None:
        """Removes ``listener`` (its first registration), if it is registered."""
        listeners = list(self._listeners)
        if listener in listeners:
            listeners.remove(listener)
            self._listeners = tuple(listeners)

    async def close(self) -> None:
        await self.store.close()

    async def __aenter__(self) -> ResponseCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- LLM, whole responses ----------------------------------------------------------

    async def call_llm(
        self,
        provider: str,
        headers: Mapping[str, Any],
        body: Any,
        call: Callable[[], Awaitable[Any]],
    ) -> Any:
        """The provider's response to ``body``: stored, coalesced, or from ``call()``."""
        name = policy.request_model(body) or provider
        key = self._llm_key(provider, headers, body)
        if isinstance(key, Bypass):
            self._decide(CacheStatus.BYPASS, "llm", name, reason=key.reason)
            return await call()
        if self._bypass_rate and self._sampler.sampled(self._bypass_rate):
            self._decide(CacheStatus.BYPASS, "llm", name, reason="sampled", key_hash=key)
            return await self._run_and_store(key, call, provider, name, self._ttl_ms)
        found = await self._lookup(key)
        if found.entry is not None:
            self._hit_llm(key, name, found.entry)
            return found.entry.response
        if found.failed:
            self._decide(CacheStatus.MISS, "llm", name, reason="store_error", key_hash=key)
            return await call()
        return await self._single_flight(
            key, "llm", name, self._ttl_ms,
            lambda: self._run_and_store(key, call, provider, name, self._ttl_ms),
            lambda entry: entry.response,
        )  # fmt: skip

    def _llm_key(self, provider: str, headers: Mapping[str, Any], body: Any) -> str | Bypass:
        outcome = self._keyer.key(provider, headers, body)
        if isinstance(outcome, Bypass) and outcome.reason == "canonicalization_failed":
            self.savings.failed("unserializable_request", "request body is not JSON")
        return outcome

    def _hit_llm(self, key: str, name: str, entry: CacheEntry, *, coalesced: bool = False) -> None:
        """Every hit's decision: built directly, without ``_decide``'s keyword packing."""
        saved = entry.saved
        if saved is None:
            saved = entry.saved = (usage_tokens(entry.response), reported_cost(entry.response))
        decision = CacheDecision(
            CacheStatus.HIT, "llm", self._backend, name, key_hash=key, ttl_ms=self._ttl_ms,
            age_ms=max(0, now_ms() - entry.created_unix_ms), saved_tokens=saved[0],
            saved_cost_usd=saved[1], saved_latency_ms=entry.latency_ms, coalesced=coalesced,
        )  # fmt: skip
        self._emit(decision)

    async def _run_and_store(
        self,
        key: str,
        call: Callable[[], Awaitable[Any]],
        provider: str | None,
        name: str,
        ttl_ms: int,
    ) -> Any:
        started = time.perf_counter()
        response = await call()
        latency_ms = (time.perf_counter() - started) * 1000
        if not policy.is_error_response(response):
            entry = CacheEntry.fresh(
                response, key_hash=key, ttl_ms=ttl_ms, model_name=name if provider else None,
                provider_name=provider, latency_ms=latency_ms,
            )  # fmt: skip
            await self._store(key, entry)
        return response

    # -- LLM, streams ------------------------------------------------------------------

    async def stream_llm(
        self,
        provider: str,
        headers: Mapping[str, Any],
        body: Any,
        call: Callable[[], Awaitable[AsyncIterator[Any]]],
    ) -> AsyncIterator[Any]:
        """The stream's chunks: replayed in order from the store, or live (and then stored)."""
        name = policy.request_model(body) or provider
        if not (isinstance(body, dict) and isinstance(body.get("messages"), list)):
            self._decide(CacheStatus.BYPASS, "llm", name, reason="stream_no_codec")
            return await call()
        key = self._llm_key(provider, headers, body)
        if isinstance(key, Bypass):
            self._decide(CacheStatus.BYPASS, "llm", name, reason=key.reason)
            return await call()
        if self._bypass_rate and self._sampler.sampled(self._bypass_rate):
            self._decide(CacheStatus.BYPASS, "llm", name, reason="sampled", key_hash=key)
            return self._tee(key, await call(), provider, name)
        found = await self._lookup(key)
        replay = None if found.entry is None else _replayable(found.entry)
        if found.entry is not None and replay is not None:
            self._hit_llm(key, name, found.entry)
            return _iterate(replay)
        if found.entry is not None:
            self._decide(CacheStatus.MISS, "llm", name, reason="replay_lossy", key_hash=key)
            return await call()
        if found.failed:
            self._decide(CacheStatus.MISS, "llm", name, reason="store_error", key_hash=key)
            return await call()
        self._decide(CacheStatus.MISS, "llm", name, key_hash=key, ttl_ms=self._ttl_ms)
        return self._tee(key, await call(), provider, name)

    async def _tee(
        self, key: str, live: AsyncIterator[Any], provider: str, name: str
    ) -> AsyncIterator[Any]:
        """Forward every chunk as it arrives; store the answer once the stream ended cleanly."""
        assembler = ChatStreamAssembler()
        started = time.perf_counter()
        async for chunk in live:
            assembler.add(chunk)
            yield chunk
        aggregate = assembler.aggregate() if assembler.complete else None
        if aggregate is not None:
            entry = CacheEntry.fresh(
                aggregate, key_hash=key, ttl_ms=self._ttl_ms, model_name=name,
                provider_name=provider, chunks=assembler.chunks,
                latency_ms=(time.perf_counter() - started) * 1000,
            )  # fmt: skip
            await self._store(key, entry)

    # -- tools -------------------------------------------------------------------------

    async def call_tool(
        self, tool: str, args: Any, call: Callable[[], Awaitable[ToolOutcome]]
    ) -> ToolOutcome:
        """The tool's outcome: stored (for cacheable classes), coalesced, or from ``call()``."""
        tools = self.tools
        if tools is None:
            return await call()
        rule = policy.resolve_tool_policy(tool, self.config, tools)
        if not rule.cacheable:
            self._decide(CacheStatus.BYPASS, "tool", tool, reason="uncacheable")
            return await call()
        key = tool_key(
            namespace=self.config.namespace, tool=tool, tool_version=rule.tool_version, args=args,
            arg_skip=rule.arg_skip, cache_errors=tools.cache_errors,
        )  # fmt: skip
        if isinstance(key, Bypass):
            if key.reason == "canonicalization_failed":
                self.savings.failed("unserializable_arguments", f"tool {tool!r}")
            self._decide(CacheStatus.BYPASS, "tool", tool, reason=key.reason)
            return await call()
        cache_errors = tools.cache_errors

        async def run() -> ToolOutcome:
            return await self._run_tool_and_store(key, call, rule.ttl_ms, cache_errors)

        if self._sampler.sampled(rule.bypass_rate):
            self._decide(CacheStatus.BYPASS, "tool", tool, reason="sampled", key_hash=key)
            return await run()
        found = await self._lookup(key)
        if found.entry is not None:
            result, annotation = decode_tool_result(found.entry.response)
            if not tools.cache_errors and policy.is_error_shaped_tool_result(result):
                self._decide(CacheStatus.BYPASS, "tool", tool, reason="cached_error", key_hash=key)
                return await run()
            self._hit_tool(key, tool, found.entry, rule.ttl_ms)
            return ToolOutcome(result, annotation)
        if found.failed:
            self._decide(CacheStatus.MISS, "tool", tool, reason="store_error", key_hash=key)
            return await call()
        outcome: ToolOutcome = await self._single_flight(
            key, "tool", tool, rule.ttl_ms, run, _tool_outcome
        )
        return outcome

    def _hit_tool(
        self, key: str, tool: str, entry: CacheEntry, ttl_ms: int, *, coalesced: bool = False
    ) -> None:
        self._decide(
            CacheStatus.HIT, "tool", tool, key_hash=key, ttl_ms=ttl_ms,
            age_ms=max(0, now_ms() - entry.created_unix_ms), saved_invocations=1,
            saved_latency_ms=entry.latency_ms, coalesced=coalesced,
        )  # fmt: skip

    async def _run_tool_and_store(
        self,
        key: str,
        call: Callable[[], Awaitable[ToolOutcome]],
        ttl_ms: int,
        cache_errors: bool,
    ) -> ToolOutcome:
        started = time.perf_counter()
        outcome = await call()
        latency_ms = (time.perf_counter() - started) * 1000
        if cache_errors or not policy.is_error_shaped_tool_result(outcome.result):
            stored = encode_tool_result(outcome.result, outcome.annotation)
            entry = CacheEntry.fresh(stored, key_hash=key, ttl_ms=ttl_ms, latency_ms=latency_ms)
            await self._store(key, entry)
        return outcome

    # -- single-flight -----------------------------------------------------------------

    async def _single_flight(
        self,
        key: str,
        surface: str,
        name: str,
        ttl_ms: int,
        run: Callable[[], Awaitable[Any]],
        serve: Callable[[CacheEntry], Any],
    ) -> Any:
        """One caller per key computes; the rest get its stored entry (bounded wait)."""
        if not self.options.single_flight:
            self._decide(CacheStatus.MISS, surface, name, key_hash=key, ttl_ms=ttl_ms)
            return await run()
        flight = self._flights.get(key)
        if flight is not None:
            return await self._follow(flight, key, surface, name, ttl_ms, run, serve)
        flight = self._flights[key] = _Leader()
        try:
            led = await self._lead(key, surface, name, ttl_ms, run)
            if isinstance(led, _Live):
                return led.value
            flight.value = led
            return serve(led)
        finally:
            flight.done.set()
            del self._flights[key]
            self._last_stored.pop(key, None)

    async def _follow(
        self,
        flight: _Leader,
        key: str,
        surface: str,
        name: str,
        ttl_ms: int,
        run: Callable[[], Awaitable[Any]],
        serve: Callable[[CacheEntry], Any],
    ) -> Any:
        try:
            await asyncio.wait_for(flight.done.wait(), self.options.single_flight_wait_s)
        except TimeoutError:
            self.savings.failed("single_flight_timeout", f"{surface} {name!r}")
        if flight.value is None:  # the leader failed or is too slow: call ourselves
            self._decide(CacheStatus.MISS, surface, name, key_hash=key, ttl_ms=ttl_ms)
            return await run()
        self._hit(surface, key, name, flight.value, ttl_ms)
        return serve(flight.value)

    def _hit(self, surface: str, key: str, name: str, entry: CacheEntry, ttl_ms: int) -> None:
        if surface == "llm":
            self._hit_llm(key, name, entry, coalesced=True)
        else:
            self._hit_tool(key, name, entry, ttl_ms, coalesced=True)

    async def _lead(
        self, key: str, surface: str, name: str, ttl_ms: int, run: Callable[[], Awaitable[Any]]
    ) -> CacheEntry | _Live:
        """This process's leader: wins the shared lease, or waits for the holder's entry."""
        token = await self._acquire(key)
        if token is None:
            entry = await self._await_other_process(key)
            if entry is not None:
                self._hit(surface, key, name, entry, ttl_ms)
                return entry
            token = await self._acquire(key)
        try:
            if token is not None and self.store.shared:
                again = await self._lookup(key)  # the previous holder may have just stored it
                if again.entry is not None:
                    self._hit(surface, key, name, again.entry, ttl_ms)
                    return again.entry
            self._decide(CacheStatus.MISS, surface, name, key_hash=key, ttl_ms=ttl_ms)
            value = await run()
            stored = self._last_stored.pop(key, None)
            return stored if stored is not None else _Live(value)
        finally:
            if token is not None:
                await self._release(key, token)

    async def _acquire(self, key: str) -> str | None:
        try:
            return await self.store.acquire(key, int(self.options.lock_lease_s * 1000))
        except CacheStoreError as error:
            self.savings.failed("store_unavailable", error)
            return "unshared"  # fail open: compute without a lease

    async def _release(self, key: str, token: str) -> None:
        if token in {"unshared", "local"}:
            return
        try:
            await self.store.release(key, token)
        except CacheStoreError as error:
            self.savings.failed("store_unavailable", error)

    async def _await_other_process(self, key: str) -> CacheEntry | None:
        """Poll for another process's entry while its lease lives, up to the bounded wait."""
        store = self.store
        deadline = time.monotonic() + self.options.single_flight_wait_s
        interval = self.options.poll_interval_s
        while time.monotonic() < deadline:
            await asyncio.sleep(interval)
            interval = min(interval * 2, self.options.poll_interval_s * 16)
            found = await self._lookup(key)
            if found.entry is not None or found.failed:
                return found.entry
            try:
                if isinstance(store, RedisCacheStore) and not await store.lease_held(key):
                    return None
            except CacheStoreError:
                return None
        self.savings.failed("single_flight_timeout", "another process held the lease too long")
        return None

    # -- store access, fail open -------------------------------------------------------

    async def _lookup(self, key: str) -> _Lookup:
        if self._memory is not None:  # in-process: no I/O, no failure, nothing to await
            entry = self._memory.lookup(key)
            return _ABSENT if entry is None else _Lookup(entry)
        try:
            entry = await self.store.get(key)
        except EntryDecodeError as error:
            self.savings.failed("undecodable_entry", error)
            return _ABSENT
        except CacheStoreError as error:
            self.savings.failed("store_unavailable", error)
            return _FAILED
        return _ABSENT if entry is None else _Lookup(entry)

    async def _store(self, key: str, entry: CacheEntry) -> None:
        try:
            size = len(entry.encode())
        except (TypeError, ValueError) as error:
            self.savings.failed("unserializable_response", error)
            return
        if size > self.options.max_entry_bytes:
            self.savings.failed("oversized_response", f"{size} bytes > max_entry_bytes")
            return
        try:
            await self.store.set(key, entry)
        except CacheStoreError as error:
            self.savings.failed("store_unavailable", error)
            return
        if key in self._flights:  # the leader serves its followers this entry
            self._last_stored[key] = entry

    # -- decisions ---------------------------------------------------------------------

    def _decide(self, status: CacheStatus, surface: str, name: str, **fields: Any) -> None:
        self._emit(CacheDecision(status, surface, self._backend, name, **fields))

    def _emit(self, decision: CacheDecision) -> None:
        for listener in self._listeners:  # a tuple: listeners may (de)register meanwhile
            listener(decision)


@dataclass(frozen=True, slots=True)
class _Live:
    """A leader's result that was not stored (an error response, a store failure)."""

    value: Any


def _tool_outcome(entry: CacheEntry) -> ToolOutcome:
    return ToolOutcome(*decode_tool_result(entry.response))


def _replayable(entry: CacheEntry) -> list[Any] | None:
    if entry.chunks is not None:
        return entry.chunks
    return replay_chunks(entry.response)


async def _iterate(chunks: list[Any]) -> AsyncIterator[Any]:
    for chunk in chunks:
        yield chunk
