"""Ingest throughput: the sample trace replicated with fresh uuids, all learners on.

    python -m benchmarks.ingest --events 50000 --backend memory://

Prints events/s, runs/s and peak RSS. The trace is generated once into a
temporary directory (or reused with ``--trace``). Reading and run assembly
stream, so peak RSS should not grow with ``--events`` beyond what the backend
keeps (the memory backend keeps every run).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

from adaptive.config import AdaptiveConfig
from adaptive.events.atof import ReadReport, read_events
from adaptive.runtime import AdaptiveRuntime
from benchmarks.replicate import replicate

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "sample" / "trace.jsonl"
FALLBACK_SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "research-agent.atof.jsonl"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def ingest(trace: Path, config: AdaptiveConfig) -> tuple[int, int, float]:
    report = ReadReport()
    started = time.perf_counter()
    async with AdaptiveRuntime(config) as runtime:
        for event in read_events(trace, report):
            await runtime.emit(event)
        await runtime.wait_for_idle()
        stored = runtime.drain.stats.runs_stored
    return report.events, stored, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--backend", default="memory://")
    parser.add_argument("--learners", default="tool_parallelism,latency_sensitivity,acg")
    parser.add_argument("--trace", type=Path, help="use this trace instead of generating one")
    parser.add_argument("--agent-id", default="planner")
    args = parser.parse_args()

    config = AdaptiveConfig(agent_id=args.agent_id).with_backend_url(args.backend)
    from adaptive.config import with_learners

    config = with_learners(config, args.learners)
    with tempfile.TemporaryDirectory() as scratch:
        trace = args.trace
        if trace is None:
            trace = Path(scratch) / "trace.jsonl"
            source = SAMPLE if SAMPLE.exists() else FALLBACK_SAMPLE
            replicate(source, trace, args.events)
        baseline = peak_rss_mib()
        events, runs, seconds = asyncio.run(ingest(trace, config))
    print(f"backend        {args.backend}")
    print(f"learners       {args.learners}")
    print(f"events         {events}")
    print(f"runs stored    {runs}")
    print(f"seconds        {seconds:.2f}")
    print(f"events/s       {events / seconds:,.0f}")
    print(f"runs/s         {runs / seconds:,.0f}")
    print(f"peak RSS MiB   {peak_rss_mib():.0f} (before ingest: {baseline:.0f})")
    print(f"python         {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
