"""A scripted research agent running through the real NeMo Relay runtime.

Each run: an agent scope ``planner``; an LLM call (stable system prompt and
tool definitions, a variable question); ``search`` and ``fetch`` in parallel;
``rank``; a second LLM call. Tools and the provider are local callables, so a
run takes milliseconds plus ``tool_delay_s``.

In-process use (the bridge tests) calls ``run_agent``. As a script it runs
the agent with NeMo Relay's own native adaptive runtime on Redis, for the
interop tests and the side-by-side benchmark (a separate process keeps NeMo
Relay's global registrations out of the test process)::

    python -m tests.relay_agent --redis-url redis://127.0.0.1:6379/0 \\
        --key-prefix test: --runs 5 [--native] [--record events.jsonl]
    python -m tests.relay_agent --runs 5 --bridge 'redis://127.0.0.1:6379/0?key_prefix=x:'
    python -m tests.relay_agent --runs 5 --plugins-toml plugins.toml [--native]
    python -m tests.relay_agent --runs 5 --bridge postgresql://... --transport redis+streams://...

and prints one JSON object: events seen, seconds, the wall-clock time the
first run started (``started_at``, for figures that end in another process),
and the native runtime's validation report. With ``--transport`` our runtime
publishes runs to workers instead of learning them (``seconds`` then ends when
the last run is published). With ``--plugins-toml`` it runs the agent under the
file's adaptive component, NeMo Relay's own (``--native``, kind ``adaptive``)
or ours (kind ``adaptive_runtime``, activated by NeMo Relay's plugin host),
learning between runs, and prints the hints each request carried and how the
fan-out ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nemo_relay

AGENT = "planner"
PROVIDER = "openai"
MODEL = "demo-model"
SYSTEM_PROMPT = (
    "You are a research planner. Break the question into searches, fetch the best "
    "sources, rank them, and answer with citations."
)
TOOL_NAMES = ("search", "fetch", "rank", "summarize", "cite")
PARALLEL_TOOLS = ("search", "fetch")


def tool_definitions() -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": f"{name} the sources",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
        for name in TOOL_NAMES
    ]


@dataclass
class ProviderLog:
    """What the provider callable received: headers and body of every request."""

    requests: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)


def make_provider(log: ProviderLog) -> Callable[[nemo_relay.LLMRequest], Any]:
    async def provider(request: nemo_relay.LLMRequest) -> dict[str, Any]:
        log.requests.append((dict(request.headers), dict(request.content)))
        return {
            "id": f"resp-{len(log.requests)}",
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "plan ready"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 120, "completion_tokens": 24, "total_tokens": 144},
        }

    return provider


def make_tool(delay_s: float) -> Callable[[Any], Any]:
    async def tool(args: Any) -> nemo_relay.ToolExecutionResult[Any]:
        await asyncio.sleep(delay_s)
        return nemo_relay.ToolExecutionResult({"ok": True, "args": args})

    return tool


async def run_agent(
    runs: int,
    *,
    provider_log: ProviderLog | None = None,
    tool_delay_s: float = 0.0,
    between_runs: Callable[[], Any] | None = None,
    fan_out_gaps: list[float] | None = None,
) -> None:
    """Run the scripted agent ``runs`` times, one run after the other.

    ``fan_out_gaps`` gets, per run, how far apart the two fan-out tools ended
    (about ``tool_delay_s`` when warm-first made one wait for the other).
    """
    log = provider_log if provider_log is not None else ProviderLog()
    provider = make_provider(log)
    tool = make_tool(tool_delay_s)
    codec = nemo_relay.codecs.OpenAIChatCodec()
    tools = tool_definitions()
    for index in range(runs):
        with nemo_relay.scope.scope(AGENT, nemo_relay.ScopeType.Agent):
            request = nemo_relay.LLMRequest(
                {},
                {
                    "model": MODEL,
                    "messages": [
                        {"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user", "content": f"question {index}"},
                    ],
                    "tools": tools,
                },
            )
            await nemo_relay.llm.execute(
                PROVIDER, request, provider, model_name=MODEL, codec=codec, response_codec=codec
            )
            ends = await asyncio.gather(*(timed(name, index, tool) for name in PARALLEL_TOOLS))
            if fan_out_gaps is not None:
                fan_out_gaps.append(max(ends) - min(ends))
            await nemo_relay.tools.execute("rank", {"q": index}, tool)
            await nemo_relay.llm.execute(
                PROVIDER, request, provider, model_name=MODEL, codec=codec, response_codec=codec
            )
        if between_runs is not None:
            waited = between_runs()
            if asyncio.iscoroutine(waited):
                await waited


async def timed(name: str, index: int, tool: Callable[[Any], Any]) -> float:
    """Run one tool; when it ended."""
    await nemo_relay.tools.execute(name, {"q": index}, tool)
    return time.perf_counter()


def native_config(redis_url: str, key_prefix: str, mode: str) -> dict[str, Any]:
    """NeMo Relay's own adaptive component on Redis, all learners on."""
    adaptive = nemo_relay.adaptive
    config = adaptive.AdaptiveConfig(
        agent_id=AGENT,
        state=adaptive.StateConfig(adaptive.BackendSpec.redis(redis_url, key_prefix)),
        telemetry=adaptive.TelemetryConfig(
            learners=["tool_parallelism", "latency_sensitivity", "acg"]
        ),
        adaptive_hints=adaptive.AdaptiveHintsConfig(),
        tool_parallelism=adaptive.ToolParallelismConfig(mode=mode),
        acg=adaptive.AcgConfig(),
    )
    as_dict: dict[str, Any] = config.to_dict()
    return as_dict


async def run_with_bridge(args: argparse.Namespace) -> dict[str, Any]:
    """The same agent with our runtime attached through the bridge instead."""
    from adaptive.config import AdaptiveConfig
    from adaptive.relay.bridge import RelayBridge
    from adaptive.runtime import AdaptiveRuntime

    sections: dict[str, Any] = {"agent_id": AGENT, "tool_parallelism": {"mode": args.mode}}
    if args.batch_latency_ms is not None:
        sections["drain"] = {"batch_latency_ms": args.batch_latency_ms}
    config = AdaptiveConfig.model_validate(sections).with_backend_url(args.bridge)
    if args.transport is not None:
        config = config.with_transport_url(args.transport)
    async with AdaptiveRuntime(config) as runtime:
        bridge = await RelayBridge.attach(runtime)
        started_at = time.time()
        started = time.perf_counter()
        await run_agent(args.runs, tool_delay_s=args.tool_delay_s)
        await bridge.detach()
        await runtime.wait_for_idle()
        seconds = time.perf_counter() - started
    stats = runtime.drain.stats
    return {
        "events": bridge.events_received,
        "seconds": seconds,
        "started_at": started_at,
        "wakeups": bridge.wakeups,
        "units": stats.batches,
        "runs_stored": stats.runs_stored,
        "runs_published": stats.runs_published,
        "report": None,
    }


def register_passthrough() -> None:
    """What any Python runtime attached to NeMo Relay costs before doing any work: a
    subscriber that serializes each event and wakes the loop, and a tool-execution and an
    LLM-request intercept that pass everything through (the bridge's three callbacks)."""
    loop = asyncio.get_running_loop()
    inbox: list[str] = []

    def subscriber(event: Any) -> None:
        inbox.append(event.to_json())
        loop.call_soon_threadsafe(inbox.clear)

    async def tool(context: Any, next_call: Any) -> Any:
        result = await next_call(context.args)
        return nemo_relay.ToolExecutionInterceptOutcome(result.result, [])

    def llm(name: str, request: Any, annotated: Any) -> Any:
        return nemo_relay.LLMRequestInterceptOutcome(request, annotated)

    nemo_relay.subscribers.register("passthrough", subscriber)
    nemo_relay.intercepts.register_tool_execution("passthrough", 100, tool)
    nemo_relay.intercepts.register_llm_request("passthrough", 100, False, llm)


HINTS_HEADER = "x-nemo-relay-adaptive-agent-hints"


async def run_with_plugins_toml(args: argparse.Namespace) -> dict[str, Any]:
    """The agent under a plugins.toml's adaptive component: NeMo Relay's or ours.

    NeMo Relay's plugin host activates either file first (its report is
    returned). NeMo Relay's component then runs as that host builds it
    (``AdaptiveRuntime`` on the component's config) so that the agent can wait
    for its learning between runs (flush, then its ``wait_for_idle``); ours
    runs activated by the host and waits with ``adaptive.relay.wait_for_idle``.
    """
    log = ProviderLog()
    gaps: list[float] = []
    path = args.plugins_toml
    if not args.native:
        from adaptive.relay import register_plugin, wait_for_idle

        register_plugin()
    async with nemo_relay.plugin.activate({}, path) as activation:
        report = activation.report["config"]
        if not args.native:
            await run_agent(
                args.runs, provider_log=log, tool_delay_s=args.tool_delay_s,
                between_runs=wait_for_idle, fan_out_gaps=gaps,
            )  # fmt: skip
    if args.native:
        with path.open("rb") as handle:
            table = tomllib.load(handle)["components"][0]["config"]
        runtime = nemo_relay.adaptive.AdaptiveRuntime(table)
        await runtime.register()

        async def settle() -> None:
            await nemo_relay.subscribers.flush_async()
            await asyncio.to_thread(runtime.wait_for_idle)

        await run_agent(
            args.runs, provider_log=log, tool_delay_s=args.tool_delay_s, between_runs=settle,
            fan_out_gaps=gaps,
        )  # fmt: skip
        await settle()
        await runtime.shutdown()
    requests = [
        [headers.get(HINTS_HEADER), (body.get("nvext") or {}).get("agent_hints")]
        for headers, body in log.requests
    ]
    return {
        "report": report,
        "requests": requests,
        "whole": [without_measured(headers, body) for headers, body in log.requests],
        "fan_out_gaps": gaps,
    }


def without_measured(headers: dict[str, Any], body: dict[str, Any]) -> list[Any]:
    """A request as the provider got it, less what differs run to run: the trace id and
    the hints' measured ``iat``."""
    headers = json.loads(json.dumps({k: v for k, v in headers.items() if k != "traceparent"}))
    body = json.loads(json.dumps(body))
    for hints in (headers.get(HINTS_HEADER), (body.get("nvext") or {}).get("agent_hints")):
        if isinstance(hints, dict):
            hints.pop("iat", None)
    return [headers, body]


async def run_script(args: argparse.Namespace) -> dict[str, Any]:
    """The agent with our bridge, or with NeMo Relay's native runtime, or bare."""
    if args.plugins_toml is not None:
        return await run_with_plugins_toml(args)
    if args.bridge is not None:
        return await run_with_bridge(args)
    if args.passthrough:
        register_passthrough()
        started_at, started = time.time(), time.perf_counter()
        await run_agent(args.runs, tool_delay_s=args.tool_delay_s)
        await nemo_relay.subscribers.flush_async()
        seconds = time.perf_counter() - started
        return {"events": 12 * args.runs, "seconds": seconds, "started_at": started_at}
    events: list[dict[str, Any]] = []
    nemo_relay.subscribers.register("recorder", lambda event: events.append(event.to_dict()))
    runtime = None
    if args.native:
        runtime = nemo_relay.adaptive.AdaptiveRuntime(
            native_config(args.redis_url, args.key_prefix, args.mode)
        )
        await runtime.register()
    started_at = time.time()
    started = time.perf_counter()
    await run_agent(args.runs, tool_delay_s=args.tool_delay_s)
    if runtime is not None:
        await asyncio.to_thread(runtime.wait_for_idle)
    seconds = time.perf_counter() - started
    await nemo_relay.subscribers.flush_async()
    report = runtime.report() if runtime is not None else None
    if runtime is not None:
        await runtime.shutdown()
    if args.record is not None:
        with args.record.open("w") as out:
            for event in events:
                out.write(json.dumps(event) + "\n")
    return {"events": len(events), "seconds": seconds, "started_at": started_at, "report": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--key-prefix", default="nemo_relay:")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--native", action="store_true", help="NeMo Relay's adaptive runtime on")
    parser.add_argument("--mode", default="schedule")
    parser.add_argument("--tool-delay-s", type=float, default=0.0)
    parser.add_argument("--record", type=Path, help="write the events as ATOF JSONL")
    parser.add_argument("--bridge", metavar="BACKEND_URL", help="attach our runtime instead")
    parser.add_argument("--plugins-toml", type=Path, help="run under this file's component")
    parser.add_argument("--transport", metavar="URL", help="with --bridge: publish to workers")
    parser.add_argument("--passthrough", action="store_true", help="callbacks that do nothing")
    parser.add_argument("--batch-latency-ms", type=float, help="with --bridge: drain latency")
    args = parser.parse_args()
    json.dump(asyncio.run(run_script(args)), sys.stdout)


if __name__ == "__main__":
    main()
