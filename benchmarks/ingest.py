"""Ingest throughput: the sample trace replicated with fresh uuids, all learners on.

    python -m benchmarks.ingest --events 50000 --backend memory://

Runs exactly what ``adaptive ingest`` runs (same function, same GC setting)
and prints events/s, runs/s and peak RSS. The trace is generated into a
temporary directory (or taken from ``--trace``); see ``benchmarks/replicate.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
from pathlib import Path

from adaptive.config import AdaptiveConfig, load_config, with_learners
from adaptive.events.replicate import replicate
from adaptive.ingest import batch_gc_thresholds, ingest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "reference" / "sample" / "trace.jsonl"
FALLBACK_SAMPLE = ROOT / "examples" / "research-agent.atof.jsonl"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--backend", default="memory://")
    parser.add_argument("--learners", default="tool_parallelism,latency_sensitivity,acg")
    parser.add_argument("--trace", type=Path, help="use this trace instead of generating one")
    parser.add_argument("--agent-id", default="planner")
    parser.add_argument("--config", type=Path, help="TOML config (e.g. a tiered backend)")
    args = parser.parse_args()

    if args.config is not None:
        config = load_config(args.config, env={}).model_copy(update={"agent_id": args.agent_id})
        args.backend = f"{config.backend.kind.value} from {args.config}"
    else:
        config = AdaptiveConfig(agent_id=args.agent_id).with_backend_url(args.backend)
    config = with_learners(config, args.learners)
    with tempfile.TemporaryDirectory() as scratch:
        trace = args.trace
        if trace is None:
            trace = Path(scratch) / "trace.jsonl"
            replicate(SAMPLE if SAMPLE.exists() else FALLBACK_SAMPLE, trace, args.events)
        baseline = peak_rss_mib()
        with batch_gc_thresholds():
            summary = asyncio.run(ingest(trace, config))
    print(f"backend        {args.backend}")
    print(f"learners       {args.learners}")
    print(f"events         {summary.report.events}")
    print(f"runs stored    {summary.stats.runs_stored}")
    print(f"seconds        {summary.seconds:.2f}")
    print(f"events/s       {summary.events_per_second:,.0f}")
    print(f"runs/s         {summary.stats.runs_stored / summary.seconds:,.0f}")
    print(f"peak RSS MiB   {peak_rss_mib():.0f} (before ingest: {baseline:.0f})")
    print(f"python         {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
