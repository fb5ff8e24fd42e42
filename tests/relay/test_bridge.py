"""End to end with the real ``nemo-relay`` package: the bridge on a PostgreSQL-backed runtime."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import nemo_relay
import pytest

from adaptive.cache import ResponseCacheConfig
from adaptive.config import AdaptiveConfig, HintsLookup
from adaptive.intercepts.agent_hints import LlmCallSite
from adaptive.records import CallKind, RunRecord
from adaptive.relay.bridge import PARALLEL_HINT_MARK, RelayBridge
from adaptive.runtime import AdaptiveRuntime
from tests.relay_agent import (
    AGENT,
    MODEL,
    PARALLEL_TOOLS,
    PROVIDER,
    ProviderLog,
    make_provider,
    run_agent,
)

HEADER = "x-nemo-relay-adaptive-agent-hints"
TOOL_DELAY_S = 0.05


def runtime_config(url: str, mode: str, **drain: Any) -> AdaptiveConfig:
    return AdaptiveConfig.model_validate(
        {"agent_id": AGENT, "tool_parallelism": {"mode": mode}, "drain": drain}
    ).with_backend_url(url)


@pytest.fixture
async def scheduling_bridge(fresh_postgres_url: str) -> AsyncIterator[RelayBridge]:
    async with AdaptiveRuntime(runtime_config(fresh_postgres_url, "schedule")) as runtime:
        bridge = await RelayBridge.attach(runtime)
        try:
            yield bridge
        finally:
            await bridge.detach()


def learn_between_runs(runtime: AdaptiveRuntime) -> Any:
    async def settle() -> None:
        await nemo_relay.subscribers.flush_async()
        await runtime.wait_for_idle()

    return settle


async def stored_runs(runtime: AdaptiveRuntime) -> list[RunRecord]:
    backend = runtime.backend
    runs = await backend.load_runs(AGENT, await backend.list_run_ids(AGENT))
    return sorted(runs, key=lambda run: run.started_at)


def fan_out_ends(run: RunRecord) -> tuple[int, int]:
    """End times (ns) of the two fan-out tools, earlier first."""
    ends = sorted(
        int(call.ended_at)
        for call in run.calls
        if call.kind is CallKind.TOOL and call.name in PARALLEL_TOOLS and call.ended_at
    )
    assert len(ends) == 2
    return ends[0], ends[1]


async def test_runs_are_stored_and_learned_and_hints_reach_the_provider(
    scheduling_bridge: RelayBridge,
) -> None:
    runtime = scheduling_bridge.runtime
    log = ProviderLog()

    await run_agent(
        4, provider_log=log, tool_delay_s=TOOL_DELAY_S, between_runs=learn_between_runs(runtime)
    )

    runs = await stored_runs(runtime)
    assert len(runs) == 4
    assert [len(run.calls) for run in runs] == [5, 5, 5, 5]
    plan = runtime.hot_cache.plan
    assert plan is not None
    assert [group.tool_names for group in plan.parallel_groups] == [["fetch", "search"]]
    assert runtime.hot_cache.acg_stability is not None
    assert runtime.hot_cache.acg_stability.stable_prefix_length == 6  # system + 5 tools

    # The very first request had nothing learned yet; every later one carries hints.
    first_headers, first_body = log.requests[0]
    assert HEADER not in first_headers and "nvext" not in first_body
    for headers, body in log.requests[2:]:
        assert headers[HEADER] == body["nvext"]["agent_hints"]
        assert headers[HEADER]["prefix_id"] == f"{AGENT}-d1"
    # Per-run call index: the second call of a run expects no further requests after it.
    second_call_hints = log.requests[-1][0][HEADER]
    assert second_call_hints["total_requests"] == 2


async def test_schedule_mode_starts_followers_after_their_primer(
    scheduling_bridge: RelayBridge,
) -> None:
    """A tool's start event precedes the intercept, so the wait shows in the end times.

    Ungated, both fan-out tools sleep together and end together; gated, the
    follower's whole sleep comes after the primer ended.
    """
    runtime = scheduling_bridge.runtime

    await run_agent(4, tool_delay_s=TOOL_DELAY_S, between_runs=learn_between_runs(runtime))

    runs = await stored_runs(runtime)
    delay_ns = int(TOOL_DELAY_S * 1e9)
    primer_end, follower_end = fan_out_ends(runs[0])
    assert follower_end - primer_end < delay_ns, "nothing learned before run 1: no gate"
    # From run 2 on a plan and two ACG observations exist, so the cohort is gated.
    for run in runs[2:]:
        primer_end, follower_end = fan_out_ends(run)
        assert follower_end - primer_end >= delay_ns
    assert len(runtime.warm_first.gate) == 0  # type: ignore[arg-type]


async def test_inject_hints_mode_runs_tools_at_once_and_marks_their_hint(
    fresh_postgres_url: str,
) -> None:
    marks: list[dict[str, Any]] = []

    def record_marks(event: Any) -> None:
        if event.kind == "mark" and event.name == PARALLEL_HINT_MARK:
            marks.append(event.to_dict())

    nemo_relay.subscribers.register("test-marks", record_marks)
    try:
        async with AdaptiveRuntime(runtime_config(fresh_postgres_url, "inject_hints")) as runtime:
            async with await RelayBridge.attach(runtime):
                await run_agent(
                    3, tool_delay_s=TOOL_DELAY_S, between_runs=learn_between_runs(runtime)
                )
            runs = await stored_runs(runtime)
    finally:
        nemo_relay.subscribers.deregister("test-marks")

    for run in runs:
        primer_end, follower_end = fan_out_ends(run)
        assert follower_end - primer_end < int(TOOL_DELAY_S * 1e9)
    # Runs 2 and 3 know the group: each of their two fan-out tools is marked.
    assert sorted(mark["data"]["tool_name"] for mark in marks) == [
        "fetch",
        "fetch",
        "search",
        "search",
    ]
    assert {mark["data"]["group_id"] for mark in marks} == {"fanout:sha256:98257"}


async def test_a_full_drain_queue_delays_events_but_loses_none(fresh_postgres_url: str) -> None:
    config = runtime_config(fresh_postgres_url, "observe_only", queue_size=1, batch_size=1)
    async with AdaptiveRuntime(config) as runtime:
        async with await RelayBridge.attach(runtime) as bridge:
            await run_agent(10)
        await runtime.wait_for_idle()
        assert bridge.events_dropped == 0 and bridge.conversion_errors == 0
        assert bridge.events_received == 10 * 12  # agent, 2 LLM calls, 3 tools: start + end
        assert bridge.events_delayed > 0, "the queue never filled: the backlog went untested"
        assert len(await stored_runs(runtime)) == 10


async def test_manual_latency_sensitivity_raises_the_hints(fresh_postgres_url: str) -> None:
    log = ProviderLog()
    config = runtime_config(fresh_postgres_url, "observe_only")
    async with AdaptiveRuntime(config) as runtime, await RelayBridge.attach(runtime) as bridge:
        await run_agent(2, between_runs=learn_between_runs(runtime))
        learned_first = runtime.agent_hints.hints_for(LlmCallSite((PROVIDER,), 1, AGENT))
        learned_second = runtime.agent_hints.hints_for(LlmCallSite((PROVIDER,), 2, AGENT))
        assert learned_first is not None and learned_first.latency_sensitivity == 5.0
        assert learned_second is not None and learned_second.latency_sensitivity < 3.0
        with nemo_relay.scope.scope(AGENT, nemo_relay.ScopeType.Agent):
            bridge.set_latency_sensitivity(3)
            bridge.set_latency_sensitivity(2)  # max wins
            await run_one_request(log)
            await run_one_request(log)
    first, second = (headers[HEADER] for headers, _ in log.requests[-2:])
    assert first["latency_sensitivity"] == 5.0  # an override never lowers what was learned
    assert second["latency_sensitivity"] == 3.0
    assert second["priority"] == 5 - 3


async def run_one_request(log: ProviderLog) -> None:
    request = nemo_relay.LLMRequest(
        {}, {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    )
    await nemo_relay.llm.execute(PROVIDER, request, make_provider(log), model_name=MODEL)


async def test_detach_removes_every_registration(fresh_postgres_url: str) -> None:
    log = ProviderLog()
    async with AdaptiveRuntime(runtime_config(fresh_postgres_url, "schedule")) as runtime:
        bridge = await RelayBridge.attach(runtime)
        await run_agent(2, between_runs=learn_between_runs(runtime))
        await bridge.detach()
        received = bridge.events_received

        await run_agent(1, provider_log=log)
        await nemo_relay.subscribers.flush_async()

        assert not bridge.attached
        assert bridge.events_received == received
        assert all(HEADER not in headers for headers, _ in log.requests)
        assert nemo_relay.subscribers.deregister(bridge.name) is False
        assert nemo_relay.intercepts.deregister_llm_request(bridge.name) is False
        assert nemo_relay.intercepts.deregister_tool_execution(bridge.name) is False
        # Attaching again under the same name works: nothing was left behind.
        async with await RelayBridge.attach(runtime):
            pass


async def test_wait_for_idle_sees_the_last_run_without_a_manual_flush(
    fresh_postgres_url: str,
) -> None:
    """A slow subscriber ahead of ours holds NeMo Relay's delivery back: without the
    bridge's flush inside ``wait_for_idle`` the run's events would not have arrived yet."""
    nemo_relay.subscribers.register("slow", lambda event: time.sleep(0.02))
    try:
        config = runtime_config(fresh_postgres_url, "observe_only")
        async with AdaptiveRuntime(config) as runtime, await RelayBridge.attach(runtime):
            await run_agent(1)
            await runtime.wait_for_idle()
            assert len(await stored_runs(runtime)) == 1
    finally:
        nemo_relay.subscribers.deregister("slow")


async def test_only_the_configured_parts_are_registered(fresh_postgres_url: str) -> None:
    config = runtime_config(fresh_postgres_url, "schedule").model_copy(
        update={"adaptive_hints": None, "telemetry": None}
    )
    log = ProviderLog()
    async with AdaptiveRuntime(config) as runtime:
        bridge = await RelayBridge.attach(runtime)
        registered = bridge._registrar.registered  # type: ignore[union-attr]
        assert registered == [("tool_execution", "adaptive")]
        await run_agent(2, provider_log=log)
        await runtime.wait_for_idle()
        assert await stored_runs(runtime) == []  # no telemetry: nothing subscribed to
        assert all(HEADER not in headers for headers, _ in log.requests)
        await bridge.detach()
        assert nemo_relay.intercepts.deregister_tool_execution(bridge.name) is False


async def test_the_bridge_registers_the_response_cache(fresh_postgres_url: str) -> None:
    config = runtime_config(fresh_postgres_url, "observe_only").model_copy(
        update={"response_cache": ResponseCacheConfig(namespace="tests")}
    )
    calls = ProviderLog()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    async with AdaptiveRuntime(config) as runtime, await RelayBridge.attach(runtime) as bridge:
        for _ in range(2):
            request = nemo_relay.LLMRequest({}, body)
            await nemo_relay.llm.execute(PROVIDER, request, make_provider(calls))
        assert runtime.response_cache is not None
        assert runtime.response_cache.savings.snapshot()["total"]["hits"] == 1
    assert len(calls.requests) == 1
    name = f"{bridge.name}_response_cache_llm_execution"
    assert nemo_relay.intercepts.deregister_llm_execution(name) is False


async def test_nemo_relays_hints_lookup_through_the_bridge(fresh_postgres_url: str) -> None:
    """``lookup = "relay"``: one call counter per runtime, as NeMo Relay 0.10.4 counts."""
    config = runtime_config(fresh_postgres_url, "observe_only")
    assert config.adaptive_hints is not None
    hints = config.adaptive_hints.model_copy(update={"lookup": HintsLookup.RELAY})
    config = config.model_copy(update={"adaptive_hints": hints})
    log = ProviderLog()
    async with AdaptiveRuntime(config) as runtime, await RelayBridge.attach(runtime):
        await run_agent(3, provider_log=log, between_runs=runtime.wait_for_idle)
    totals = [headers[HEADER]["total_requests"] for headers, _ in log.requests[2:]]
    assert totals == [4, 5, 6, 7]  # root's remaining calls (1) + the runtime's call index
    assert {headers[HEADER]["prefix_id"] for headers, _ in log.requests[2:]} == {f"{AGENT}-d1"}
