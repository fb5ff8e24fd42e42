"""Hot-path overhead: what the intercepts add to every tool call and LLM request.

    python -m benchmarks.hot_path [--calls 20000]

The hot cache is learned from the example trace (NeMo Relay's research
agent, 40 runs). Each case is timed call by call with ``perf_counter_ns`` in
one process; the bare case (awaiting the tool coroutine directly) is the
baseline that the intercepted cases are compared against:

- tool, not eligible: ``WarmFirstIntercept.run`` for a tool outside any
  learned group, in ``schedule`` mode (decision only, then the call);
- tool, eligible, no wait: a learned-group tool whose cohort is new each
  time, so it is the primer: decision, scope identity, gate join, call,
  release (in-process gate);
- hints: lookup in the trie plus injection into a header and the body
  (``nvext.agent_hints``) of an OpenAI-style request;
- ACG rewriting (``acg.provider`` anthropic and openai, the work of the LLM
  execution intercepts): a 20-message request with 10 tools once the stable
  prefix is known (``benchmarks/acg_rewrite.py``).

Targets: not-eligible decision <= 5 us median, hints <= 25 us median, ACG
rewriting <= 50 us median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from adaptive.config import AdaptiveConfig, ToolParallelismMode
from adaptive.events.atof import ReadReport, read_events
from adaptive.intercepts.agent_hints import LlmCallSite
from adaptive.intercepts.warm_first import ToolScope
from adaptive.runtime import AdaptiveRuntime
from benchmarks import acg_rewrite

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "examples" / "research-agent.atof.jsonl"


async def learned_runtime() -> AdaptiveRuntime:
    config = AdaptiveConfig.model_validate(
        {"agent_id": "planner", "tool_parallelism": {"mode": "schedule"}}
    ).with_backend_url("memory://")
    runtime = AdaptiveRuntime(config)
    await runtime.start()
    for event in read_events(TRACE, ReadReport()):
        await runtime.emit(event)
    await runtime.wait_for_idle()
    return runtime


async def bare_tool() -> int:
    return 1


async def time_calls(calls: int, one: Callable[[], Awaitable[object]]) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        start = clock()
        await one()
        samples.append(clock() - start)
    return samples


def time_sync(calls: int, one: Callable[[], object]) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        start = clock()
        one()
        samples.append(clock() - start)
    return samples


def summarize(name: str, samples: list[int], baseline: float) -> None:
    ordered = sorted(samples)
    median = statistics.median(ordered) / 1000
    p99 = ordered[int(len(ordered) * 0.99)] / 1000
    print(
        f"{name:<34} median {median:7.2f} us   p99 {p99:7.2f} us   "
        f"overhead (median) {median - baseline:7.2f} us"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    runtime = await learned_runtime()
    try:
        await measure(runtime, args.calls)
    finally:
        await runtime.close()


async def measure(runtime: AdaptiveRuntime, calls: int) -> None:
    warm = runtime.warm_first
    assert warm.mode is ToolParallelismMode.SCHEDULE
    plan = runtime.hot_cache.plan
    assert plan is not None, "nothing learned from the trace"
    grouped = next(
        (
            name
            for group in plan.parallel_groups
            for name in group.tool_names
            if warm.eligible_group(name)
        ),
        None,
    )
    assert grouped is not None, "no learned group is eligible on the example trace"
    root, parent = uuid.uuid4(), uuid.uuid4()

    def fixed_scope() -> ToolScope:
        return ToolScope(root, parent)

    def new_cohort_scope() -> ToolScope:
        return ToolScope(root, uuid.uuid4())

    bare = await time_calls(calls, bare_tool)
    baseline = statistics.median(bare) / 1000
    summarize("bare tool call", bare, 0.0)
    summarize(
        "not-eligible decision only",
        time_sync(calls, lambda: warm.eligible_group("not_a_learned_tool")),
        0.0,
    )
    summarize(
        "tool, not eligible",
        await time_calls(calls, lambda: warm.run("not_a_learned_tool", fixed_scope, bare_tool)),
        baseline,
    )
    summarize(
        f"tool, eligible primer ({grouped})",
        await time_calls(calls, lambda: warm.run(grouped, new_cohort_scope, bare_tool)),
        baseline,
    )

    injector = runtime.agent_hints
    headers = {"content-type": "application/json"}
    body = {
        "model": "gpt-x",
        "messages": [{"role": "user", "content": "question"}],
        "nvext": {"other": 1},
    }
    site = LlmCallSite(("openai",), 2, "planner", scope_depth=1)

    def inject_hints() -> None:
        hints = injector.hints_for(site)
        assert hints is not None
        injector.inject(headers, body, hints)

    summarize("hints lookup + injection", time_sync(calls, inject_hints), 0.0)

    # ACG's request rewriting (the LLM execution intercept's work): a 20-message
    # request with 10 tools once the stable prefix is known; see benchmarks/acg_rewrite.py.
    acg_rewrite.measure("anthropic", calls, anthropic=True)
    acg_rewrite.measure("openai", calls, anthropic=False)


if __name__ == "__main__":
    asyncio.run(main())
