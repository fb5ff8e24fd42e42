"""Ingest throughput: the sample trace replicated with fresh uuids, all learners on.

    python -m benchmarks.ingest --events 50000 --backend memory://

Runs exactly what ``adaptive ingest`` runs (same function, same GC setting)
and prints events/s, runs/s and peak RSS. The trace is generated into a
temporary directory (or taken from ``--trace``); see ``benchmarks/replicate.py``.

``--versus-relay RUNS`` adds NeMo Relay 0.10.4's native adaptive runtime on
Redis, side by side, on a scripted research agent of the same shape
(``tests/relay_agent.py``: agent scope, 2 LLM calls with a stable system
prompt and tool list, a 2-tool fan-out, 1 more tool), each in its own process:

- NeMo Relay native: the agent runs with NeMo Relay's adaptive component on
  Redis; events/s until its drain is idle (agent + learning, Rust);
- NeMo Relay bare: the same agent without any adaptive runtime (what emitting
  the events alone costs, the ceiling for both live figures);
- ours, bridge: the same agent with our runtime attached via the bridge on Redis;
- ours, ingest: the events NeMo Relay emitted in the native run, ingested by
  ``adaptive ingest`` into Redis;

and prints each figure's ratio to the native one. A Redis backend's server
is used for NeMo Relay's state (else ``--relay-redis``); every prefix is fresh
and deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from adaptive.cli.ingest import batch_gc_thresholds, ingest
from adaptive.config import AdaptiveConfig, load_config, with_learners
from adaptive.events.replicate import replicate

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "research-agent.atof.jsonl"
"""The NeMo Relay 0.10.4 sample trace (a copy of ``tests/data/nemo_relay_0_10_4/trace.jsonl``)."""


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
    parser.add_argument("--versus-relay", type=int, metavar="RUNS", help="NeMo Relay side by side")
    parser.add_argument("--relay-redis", default="redis://127.0.0.1:6379/0")
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
            replicate(SAMPLE, trace, args.events)
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
    if args.versus_relay:
        redis_server = args.relay_redis
        if args.backend.startswith(("redis://", "rediss://")):
            redis_server = urlsplit(args.backend)._replace(query="").geturl()
        side_by_side(args.versus_relay, redis_server, summary.events_per_second, args.learners)


def relay_agent(*options: str) -> dict[str, Any]:
    """One run of the scripted NeMo Relay agent in a process of its own."""
    completed = subprocess.run(
        [sys.executable, "-m", "tests.relay_agent", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def delete_prefixes(redis_server: str, prefixes: list[str]) -> None:
    import redis

    client = redis.Redis.from_url(redis_server)
    try:
        for prefix in prefixes:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


def side_by_side(runs: int, redis_server: str, sample_rate: float, learners: str) -> None:
    tag = uuid.uuid4().hex[:8]
    native_prefix, bridge_prefix, ingest_prefix = (f"bench_{tag}_{n}:" for n in "nbi")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            recorded = Path(scratch) / "relay.jsonl"
            native = relay_agent(
                "--native", "--redis-url", redis_server, "--key-prefix", native_prefix,
                "--runs", str(runs), "--record", str(recorded),
            )  # fmt: skip
            bare = relay_agent("--redis-url", redis_server, "--runs", str(runs))
            bridge = relay_agent(
                "--runs", str(runs), "--bridge", f"{redis_server}?key_prefix={bridge_prefix}"
            )
            config = with_learners(
                AdaptiveConfig(agent_id="planner").with_backend_url(
                    f"{redis_server}?key_prefix={ingest_prefix}"
                ),
                learners,
            )
            with batch_gc_thresholds():
                ours = asyncio.run(ingest(recorded, config))
    finally:
        delete_prefixes(redis_server, [native_prefix, bridge_prefix, ingest_prefix])
    native_rate = native["events"] / native["seconds"]
    rows = [
        ("NeMo Relay 0.10.4 native, Redis", native["events"], native_rate),
        ("NeMo Relay, no adaptive (emit only)", bare["events"], bare["events"] / bare["seconds"]),
        ("ours via bridge, Redis", bridge["events"], bridge["events"] / bridge["seconds"]),
        ("ours, ingest of those events, Redis", ours.report.events, ours.events_per_second),
        ("ours, ingest of the sample (above)", None, sample_rate),
    ]
    print(f"\nside by side: scripted research agent, {runs} runs, redis {redis_server}")
    for name, events, rate in rows:
        shown = f"{events:>7}" if events is not None else "       "
        print(f"{name:<38} events {shown}   {rate:>9,.0f} events/s   x{rate / native_rate:.2f}")


if __name__ == "__main__":
    main()
