"""Ingest throughput under a flood of agent starts that never end.

    python -m benchmarks.hostile [--starts 100000] [--backend sqlite:////tmp/flood.db]

A crashed agent (or a trace cut short) leaves agent starts without ends. The
trace here is the NeMo Relay sample (40 runs) with ``--starts`` never-ending
agent starts spread through it, ingested exactly as ``adaptive ingest`` does
with the default ``drain.max_open_runs`` (10,000): every start beyond that
abandons the oldest open run. Target (issue 11): ≥ 5,000 events/s, with the
sample's 40 runs all stored and the abandonment logged as a handful of lines.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import random
import tempfile
import uuid
from pathlib import Path

from adaptive.cli.ingest import batch_gc_thresholds, ingest
from adaptive.config import AdaptiveConfig

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "research-agent.atof.jsonl"


def flooded_trace(path: Path, starts: int, seed: int = 3) -> int:
    """The sample with ``starts`` never-ending agent starts spread evenly; events written."""
    rng = random.Random(seed)
    lines = SAMPLE.read_text().splitlines()
    template = json.loads(lines[0])
    per_gap = starts // len(lines) + 1
    written = 0
    with path.open("w") as out:
        for line in lines:
            for _ in range(min(per_gap, starts)):
                start = dict(template, uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
                out.write(json.dumps(start) + "\n")
                starts -= 1
                written += 1
            out.write(line + "\n")
            written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=100_000)
    parser.add_argument("--backend", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    log = io.StringIO()
    logging.basicConfig(stream=log, level=logging.WARNING)
    with tempfile.TemporaryDirectory() as scratch:
        trace = Path(scratch) / "flood.jsonl"
        events = flooded_trace(trace, args.starts)
        backend = args.backend or f"sqlite:///{scratch}/flood.db"
        config = AdaptiveConfig(agent_id="planner").with_backend_url(backend)
        with batch_gc_thresholds():
            summary = asyncio.run(ingest(trace, config))
    print(f"backend            {backend}")
    print(f"events             {events:,} ({args.starts:,} never-ending starts)")
    print(f"runs stored        {summary.stats.runs_stored}")
    print(f"abandoned runs     {summary.dropped.get('abandoned_run', 0):,}")
    print(f"runs left open     {summary.open_runs:,}")
    print(f"seconds            {summary.seconds:.2f}")
    print(f"events/s           {summary.events_per_second:,.0f}   (target ≥ 5,000)")
    print(f"log lines          {len(log.getvalue().splitlines())}")


if __name__ == "__main__":
    main()
