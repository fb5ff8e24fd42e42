"""A NeMo Relay agent whose runs adaptive learns from, stores in PostgreSQL and feeds back.

    pip install -e '.[relay,postgres]'
    createdb -h 127.0.0.1 -U postgres adaptive
    python examples/relay_bridge.py

Set ADAPTIVE_BACKEND to use another backend URL.
"""

import asyncio
import os
import time

import nemo_relay

from adaptive import AdaptiveConfig, AdaptiveRuntime, RelayBridge

BACKEND = os.environ.get(
    "ADAPTIVE_BACKEND", "postgresql://postgres@127.0.0.1:5432/adaptive?auto_upgrade=true"
)
HINTS_HEADER = "x-nemo-relay-adaptive-agent-hints"
SYSTEM = "You are a research planner. Search, fetch the best sources, answer with citations."
TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("search", "fetch", "rank", "summarize", "cite")
]
TOOL_SECONDS = 0.1
codec = nemo_relay.codecs.OpenAIChatCodec()


async def call_model(request: nemo_relay.LLMRequest) -> dict:
    """Your provider call. Learned hints arrive in a header and in nvext.agent_hints."""
    hints = request.headers.get(HINTS_HEADER)
    print("  agent hints:", hints, "| in body:", "nvext" in request.content)
    return {
        "id": "response",
        "model": "gpt-x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "done"}}],
        "usage": {"prompt_tokens": 250, "completion_tokens": 40, "total_tokens": 290},
    }


async def web_tool(args: dict) -> nemo_relay.ToolExecutionResult:
    await asyncio.sleep(TOOL_SECONDS)
    return nemo_relay.ToolExecutionResult({"results": [f"about {args['q']}"]})


async def fan_out(question: str) -> str:
    """search and fetch in parallel; warm-first makes one wait until the other is done."""

    async def finished(name: str) -> float:
        await nemo_relay.tools.execute(name, {"q": question}, web_tool)
        return time.perf_counter()

    search, fetch = await asyncio.gather(finished("search"), finished("fetch"))
    return "warm-first" if abs(search - fetch) > TOOL_SECONDS / 2 else "at once"


async def research(question: str) -> str:
    with nemo_relay.scope.scope("planner", nemo_relay.ScopeType.Agent):
        request = nemo_relay.LLMRequest(
            {},
            {
                "model": "gpt-x",
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": question},
                ],
                "tools": TOOLS,
            },
        )
        llm = nemo_relay.llm.execute
        await llm("openai", request, call_model, codec=codec, response_codec=codec)
        how = await fan_out(question)
        await nemo_relay.tools.execute("rank", {"q": question}, web_tool)
        await llm("openai", request, call_model, codec=codec, response_codec=codec)
        return how


async def main() -> None:
    config = AdaptiveConfig.model_validate(
        {"agent_id": "planner", "tool_parallelism": {"mode": "schedule"}}
    ).with_backend_url(BACKEND)
    async with AdaptiveRuntime(config) as runtime, await RelayBridge.attach(runtime):
        for number in range(1, 6):
            print(f"run {number}:")
            print(f"  search/fetch: {await research(f'question {number}')}")
            # Only so that this demo learns between runs; a service just keeps going.
            await runtime.wait_for_idle()
            print(f"  warm-first next: {runtime.warm_first.explain('search')}")
        plan = runtime.hot_cache.plan
        print("learned fan-outs:", plan and [group.tool_names for group in plan.parallel_groups])
        print("runs stored:", len(await runtime.backend.list_run_ids("planner")))


if __name__ == "__main__":
    asyncio.run(main())
