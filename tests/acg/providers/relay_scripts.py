"""NeMo Relay 0.10.4 driven in a subprocess, for the provider tests' live comparisons.

Run as ``python -m tests.acg.providers.relay_scripts COMMAND`` (a separate
process keeps NeMo Relay's global registrations out of the test process):

``decode``
    stdin: a JSON list of ``{"surface", "request"}``; stdout: a JSON list of
    ``{"annotated": ...}`` (the ``annotated_request`` NeMo Relay's built-in
    codec puts on the LLM start event) or ``{"error": ...}``.

``usage``
    stdin: a JSON list of ``{"surface", "request", "response"}``; stdout: the
    ATOF LLM end event NeMo Relay emits for each call (the provider returns
    ``response``, decoded by the surface's built-in codec).

``agent --provider P --redis-url URL --key-prefix K [--ours]``
    NeMo Relay's native adaptive component (``acg.provider = P``, Redis
    backend) runs a scripted agent. Before each run it reads one line from
    stdin (a JSON list of requests, ``{"surface", "request"}``; an empty line
    ends), runs them as one agent run, waits until NeMo Relay has learned
    from it, and prints one JSON line: the bodies the provider callable got.
    With ``--ours`` the same agent runs under our runtime instead, attached
    with ``RelayBridge`` and configured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import nemo_relay

AGENT = "planner"
CODECS = {
    "anthropic_messages": "AnthropicMessagesCodec",
    "openai_chat": "OpenAIChatCodec",
    "openai_responses": "OpenAIResponsesCodec",
}
RESPONSES: dict[str, dict[str, Any]] = {
    "anthropic_messages": {
        "id": "msg",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 2},
    },
    "openai_chat": {
        "id": "chat",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    },
    "openai_responses": {
        "id": "resp",
        "object": "response",
        "model": "m",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "m",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "ok"}],
            }
        ],
        "usage": {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12},
    },
}


def codec_for(surface: str) -> Any:
    return getattr(nemo_relay.codecs, CODECS[surface])()


async def call(item: dict[str, Any], bodies: list[Any] | None = None) -> None:
    """One managed LLM call with the surface's built-in codec."""
    surface = item["surface"]
    codec = codec_for(surface)

    async def provider(request: nemo_relay.LLMRequest) -> dict[str, Any]:
        if bodies is not None:
            bodies.append(request.content)
        response: dict[str, Any] = item.get("response", RESPONSES[surface])
        return response

    request = nemo_relay.LLMRequest({}, item["request"])
    await nemo_relay.llm.execute("llm", request, provider, codec=codec, response_codec=codec)


async def decode(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    nemo_relay.subscribers.register("decode-recorder", lambda event: events.append(event.to_dict()))
    results: list[dict[str, Any]] = []
    for item in items:
        events.clear()
        try:
            with nemo_relay.scope.scope(AGENT, nemo_relay.ScopeType.Agent):
                await call(item)
        except Exception as error:  # the codec refused the request
            results.append({"error": str(error)})
            continue
        await nemo_relay.subscribers.flush_async()
        starts = [
            e for e in events if e.get("category") == "llm" and e["scope_category"] == "start"
        ]
        profile = starts[0].get("category_profile") or {}
        results.append({"annotated": profile.get("annotated_request")})
    return results


async def usage(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    nemo_relay.subscribers.register("usage-recorder", lambda event: events.append(event.to_dict()))
    ends: list[dict[str, Any]] = []
    for item in items:
        events.clear()
        with nemo_relay.scope.scope(AGENT, nemo_relay.ScopeType.Agent):
            await call(item)
        await nemo_relay.subscribers.flush_async()
        ends += [e for e in events if e.get("category") == "llm" and e["scope_category"] == "end"]
    return ends


def native_runtime(provider: str, redis_url: str, key_prefix: str) -> Any:
    adaptive = nemo_relay.adaptive
    config = adaptive.AdaptiveConfig(
        agent_id=AGENT,
        state=adaptive.StateConfig(adaptive.BackendSpec.redis(redis_url, key_prefix)),
        telemetry=adaptive.TelemetryConfig(learners=["acg"]),
        acg=adaptive.AcgConfig(provider=provider),  # type: ignore[arg-type]  # a CLI string
    )
    return adaptive.AdaptiveRuntime(config.to_dict())


async def our_agent(args: argparse.Namespace) -> None:
    from adaptive import AdaptiveConfig, AdaptiveRuntime, RelayBridge

    config = AdaptiveConfig.model_validate(
        {
            "agent_id": AGENT,
            "telemetry": {"learners": ["acg"]},
            "acg": {"provider": args.provider},
        }
    ).with_backend_url(f"{args.redis_url}?key_prefix={args.key_prefix}")
    async with AdaptiveRuntime(config) as runtime, await RelayBridge.attach(runtime):
        while line := (await asyncio.to_thread(sys.stdin.readline)).strip():
            bodies: list[Any] = []
            with nemo_relay.scope.scope(AGENT, nemo_relay.ScopeType.Agent):
                for item in json.loads(line):
                    await call(item, bodies)
            await runtime.wait_for_idle()
            report = {"diagnostics": []}
            sys.stdout.write(json.dumps({"bodies": bodies, "report": report}) + "\n")
            sys.stdout.flush()


async def agent(args: argparse.Namespace) -> None:
    if args.ours:
        await our_agent(args)
        return
    runtime = native_runtime(args.provider, args.redis_url, args.key_prefix)
    await runtime.register()
    try:
        while line := (await asyncio.to_thread(sys.stdin.readline)).strip():
            bodies: list[Any] = []
            with nemo_relay.scope.scope(AGENT, nemo_relay.ScopeType.Agent):
                for item in json.loads(line):
                    await call(item, bodies)
            await nemo_relay.subscribers.flush_async()
            await asyncio.to_thread(runtime.wait_for_idle)
            sys.stdout.write(json.dumps({"bodies": bodies, "report": runtime.report()}) + "\n")
            sys.stdout.flush()
    finally:
        await runtime.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["decode", "usage", "agent"])
    parser.add_argument("--provider", default="passthrough")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--key-prefix", default="nemo_relay:")
    parser.add_argument("--ours", action="store_true", help="our runtime, not NeMo Relay's")
    args = parser.parse_args()
    if args.command == "decode":
        json.dump(asyncio.run(decode(json.load(sys.stdin))), sys.stdout)
    elif args.command == "usage":
        json.dump(asyncio.run(usage(json.load(sys.stdin))), sys.stdout)
    else:
        asyncio.run(agent(args))


if __name__ == "__main__":
    main()
