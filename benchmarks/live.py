"""Live learning: a scripted NeMo Relay agent, events/s until its last run is stored.

    python -m benchmarks.live --runs 400 --repeat 3 [--scaling 400] [--latencies 50,250]

One table, every figure a ratio to NeMo Relay's native adaptive runtime. The
agent is ``tests/relay_agent.py`` (agent scope, 2 LLM calls, a 2-tool
fan-out, 1 more tool: 12 events a run), each mode in processes of its own:

- no adaptive runtime (NeMo Relay emitting to one Python subscriber);
- the floor of any Python runtime attached to NeMo Relay: a subscriber that
  serializes each event and wakes the loop, and a tool-execution and an
  LLM-request intercept that pass everything through (our bridge's three
  callbacks, doing nothing);
- NeMo Relay 0.10.4's native adaptive runtime on Redis;
- ours in-process through the bridge, on Redis and on PostgreSQL;
- ours with the transport (Redis Streams) and 1 or 2 ``adaptive worker``
  processes storing into PostgreSQL.

Events/s run from the agent's first run to the moment its last run is stored:
in-process and native, when the runtime is idle; with the transport, when
PostgreSQL holds every run (polled every 20 ms from here). Every run must be
stored exactly once (counted, distinct ids, and the workers' own counts).
Modes are interleaved, ``--repeat`` times, and the table shows medians (the
machine is shared). Every database, stream and key prefix is fresh and
removed afterwards.

``--scaling RUNS`` prefills a stream with RUNS runs of each of two agents (the
sample trace replicated) and times 1 worker, then 2, learning it all
(interleaved too): the ratio is the workers' own scaling, without the agents.
``--latencies`` reruns the in-process modes with other ``drain.batch_latency_ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.02


@dataclass
class Measurement:
    events: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds


# -- services ---------------------------------------------------------------------------


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new PostgreSQL database at head; dropped afterwards."""
    from adaptive.storage.sql import migrate

    name = f"bench_live_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = f"{server.rstrip('/')}/{name}"
    try:
        asyncio.run(migrate.upgrade(url))
        yield url
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(server: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(f"{server.rstrip('/')}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def delete_keys(redis_server: str, pattern: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_server)
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def count_runs(url: str) -> tuple[int, int]:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        row = await connection.fetchrow("SELECT count(*), count(DISTINCT id) FROM runs")
        assert row is not None
        return int(row[0]), int(row[1])
    finally:
        await connection.close()


async def wait_for_runs(url: str, runs: int, agent: subprocess.Popen[str] | None) -> float:
    """Poll until ``runs`` runs are stored; the wall-clock time they were."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        while True:
            count = await connection.fetchval("SELECT count(*) FROM runs")
            if count >= runs:
                return time.time()
            if agent is not None and agent.poll() not in (None, 0):
                raise RuntimeError(f"agent failed: {agent.stderr.read() if agent.stderr else ''}")
            await asyncio.sleep(POLL_S)
    finally:
        await connection.close()


# -- processes ------------------------------------------------------------------------


def agent_command(*options: str) -> list[str]:
    return [sys.executable, "-m", "tests.relay_agent", *options]


def run_agent(*options: str) -> dict[str, Any]:
    done = subprocess.run(
        agent_command(*options), cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"agent failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@contextmanager
def worker_processes(count: int, transport: str, backend: str) -> Iterator[list[Any]]:
    """``count`` workers, started and ready; stopped with SIGTERM (their summaries kept)."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-live-"))
    processes = []
    for index in range(count):
        log = (scratch / f"w{index}.log").open("w")
        command = [sys.executable, "-m", "adaptive.cli", "worker", "--transport", transport]
        command += ["--backend", backend, "--consumer", f"bench-{index}"]
        processes.append(
            (
                subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True),
                scratch / f"w{index}.log",
            )
        )
    for process, log_path in processes:
        while "adaptive worker " not in log_path.read_text():
            if process.poll() is not None:
                raise RuntimeError(f"worker failed: {log_path.read_text()}")
            time.sleep(0.02)
    summaries: list[Any] = []
    try:
        yield summaries
    finally:
        for process, _ in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in processes:
            out, _ = process.communicate(timeout=120)
            summaries.append(out)


def runs_stored_by(summaries: list[str]) -> int:
    import re

    return sum(int(re.search(r"runs stored (\d+)", s).group(1)) for s in summaries)  # type: ignore[union-attr]


# -- modes --------------------------------------------------------------------------


def bare(args: argparse.Namespace) -> Measurement:
    result = run_agent("--runs", str(args.runs))
    return Measurement(result["events"], result["seconds"])


def passthrough(args: argparse.Namespace) -> Measurement:
    result = run_agent("--runs", str(args.runs), "--passthrough")
    return Measurement(result["events"], result["seconds"])


def native(args: argparse.Namespace) -> Measurement:
    import redis

    prefix = f"bench_live_{uuid.uuid4().hex[:8]}:"
    try:
        result = run_agent(
            "--runs", str(args.runs), "--native", "--redis-url", args.redis,
            "--key-prefix", prefix,
        )  # fmt: skip
        client = redis.Redis.from_url(args.redis)
        stored = client.lrange(f"{prefix}runs_index:planner", 0, -1)
        client.close()
    finally:
        delete_keys(args.redis, f"{prefix}*")
    check(len(stored), len(set(stored)), args.runs)
    return Measurement(result["events"], result["seconds"])


def in_process_redis(args: argparse.Namespace, latency: float | None = None) -> Measurement:
    prefix = f"bench_live_{uuid.uuid4().hex[:8]}:"
    url = f"{args.redis}?key_prefix={prefix}"
    try:
        result = run_agent("--runs", str(args.runs), "--bridge", url, *latency_option(latency))
        stored = asyncio.run(stored_ids(url))
    finally:
        delete_keys(args.redis, f"{prefix}*")
    check(len(stored), len(set(stored)), args.runs)
    return bridge_measurement(result)


def in_process_postgres(args: argparse.Namespace, latency: float | None = None) -> Measurement:
    with fresh_database(args.postgres) as url:
        result = run_agent("--runs", str(args.runs), "--bridge", url, *latency_option(latency))
        check(*asyncio.run(count_runs(url)), args.runs)
    return bridge_measurement(result)


def latency_option(latency: float | None) -> list[str]:
    return [] if latency is None else ["--batch-latency-ms", str(latency)]


def bridge_measurement(result: dict[str, Any]) -> Measurement:
    extra = {
        "events per wake-up": result["events"] / max(1, result["wakeups"]),
        "runs per unit": result["runs_stored"] / max(1, result["units"]),
    }
    return Measurement(result["events"], result["seconds"], extra)


async def stored_ids(url: str) -> list[str]:
    from adaptive.config import AdaptiveConfig
    from adaptive.storage.factory import create_backend

    backend = create_backend(AdaptiveConfig().with_backend_url(url).backend)
    await backend.open()
    try:
        return [str(run_id) for run_id in await backend.list_run_ids("planner")]
    finally:
        await backend.close()


def transport(args: argparse.Namespace, workers: int) -> Measurement:
    stream = f"bench_live_{uuid.uuid4().hex[:8]}"
    url = f"redis+streams://{args.redis.split('://', 1)[1]}?stream={stream}:runs"
    try:
        with fresh_database(args.postgres) as backend:
            with worker_processes(workers, url, backend) as summaries:
                command = agent_command(
                    "--runs", str(args.runs), "--bridge", backend, "--transport", url
                )  # fmt: skip
                agent = subprocess.Popen(
                    command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                stored_at = asyncio.run(wait_for_runs(backend, args.runs, agent))
                out, err = agent.communicate(timeout=300)
                if agent.returncode:
                    raise RuntimeError(f"agent failed: {err[-2000:]}")
            check(*asyncio.run(count_runs(backend)), args.runs)
            check(runs_stored_by(summaries), runs_stored_by(summaries), args.runs)
    finally:
        delete_keys(args.redis, f"{stream}:*")
    result = json.loads(out)
    extra = {"agent alone": result["events"] / result["seconds"]}
    return Measurement(result["events"], stored_at - result["started_at"], extra)


def check(count: int, distinct: int, runs: int) -> None:
    if count != runs or distinct != runs:
        raise AssertionError(f"{count} runs stored ({distinct} distinct), expected {runs}")


# -- worker scaling ---------------------------------------------------------------------


def scaling_entries(runs_per_agent: int) -> list[dict[bytes, bytes]]:
    """Two agents' runs (the sample replicated), as stream entries, interleaved as two
    agents running at once publish them."""
    from adaptive.drain import RunAccumulator
    from adaptive.events.model import Event
    from adaptive.events.replicate import replicated_events
    from adaptive.transport.entry import encode

    per_agent = []
    copies = -(-runs_per_agent // 40)
    for agent in ("agent-a", "agent-b"):
        accumulator = RunAccumulator(agent)
        runs = []
        for raw in replicated_events(ROOT / "examples" / "research-agent.atof.jsonl", copies):
            run = accumulator.process(Event.model_validate(raw))
            if run is not None:
                runs.append(encode(run))
        per_agent.append(runs[:runs_per_agent])
    return [entry for pair in zip(*per_agent, strict=True) for entry in pair]


async def prefill(url: str, entries: list[dict[bytes, bytes]]) -> None:
    from adaptive.transport.stream import RunStream
    from adaptive.transport.url import parse_transport_url

    stream = await RunStream.open(parse_transport_url(url))
    try:
        for start in range(0, len(entries), 256):
            await stream.publish(entries[start : start + 256])
    finally:
        await stream.close()


def scaling(args: argparse.Namespace, workers: int, entries: list[dict[bytes, bytes]]) -> float:
    """Runs/s of ``workers`` workers learning a prefilled stream of two agents."""
    stream = f"bench_live_{uuid.uuid4().hex[:8]}"
    url = f"redis+streams://{args.redis.split('://', 1)[1]}?stream={stream}:runs"
    try:
        with fresh_database(args.postgres) as backend:
            asyncio.run(prefill(url, entries))
            with worker_processes(workers, url, backend) as summaries:
                started = time.time()
                stored_at = asyncio.run(wait_for_runs(backend, len(entries), None))
            check(*asyncio.run(count_runs(backend)), len(entries))
            check(runs_stored_by(summaries), runs_stored_by(summaries), len(entries))
    finally:
        delete_keys(args.redis, f"{stream}:*")
    return len(entries) / (stored_at - started)


# -- the run ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--scaling", type=int, metavar="RUNS", help="worker scaling, 2 agents")
    parser.add_argument("--latencies", default="", help="in-process batch latencies (ms) to add")
    parser.add_argument("--only", default="", help="comma-separated mode names (for checks)")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    modes: dict[str, Any] = {
        "NeMo Relay 0.10.4 native, Redis": native,
        "NeMo Relay, no adaptive runtime": bare,
        "NeMo Relay, our 3 callbacks doing nothing": passthrough,
        "ours in-process, Redis": in_process_redis,
        "ours in-process, PostgreSQL": in_process_postgres,
        "ours + transport, 1 worker, PostgreSQL": lambda a: transport(a, 1),
        "ours + transport, 2 workers, PostgreSQL": lambda a: transport(a, 2),
    }
    for latency in filter(None, args.latencies.split(",")):
        ms = float(latency)
        modes[f"ours in-process, Redis, {ms:g} ms units"] = lambda a, ms=ms: in_process_redis(a, ms)
        modes[f"ours in-process, PostgreSQL, {ms:g} ms units"] = lambda a, ms=ms: (
            in_process_postgres(a, ms)
        )
    if args.only:
        wanted = args.only.split(",")
        modes = {name: mode for name, mode in modes.items() if any(w in name for w in wanted)}
    results: dict[str, list[Measurement]] = {name: [] for name in modes}
    scaled: dict[int, list[float]] = {1: [], 2: []}
    entries = scaling_entries(args.scaling) if args.scaling else []
    for repetition in range(args.repeat):
        for name, mode in modes.items():
            results[name].append(mode(args))
            print(f"  [{repetition + 1}] {name}: {results[name][-1].rate:,.0f} events/s",
                  file=sys.stderr, flush=True)  # fmt: skip
        if entries:
            for workers in (1, 2):
                scaled[workers].append(scaling(args, workers, entries))
                rate = scaled[workers][-1]
                print(f"  [{repetition + 1}] {workers} worker(s): {rate:,.0f} runs/s",
                      file=sys.stderr, flush=True)  # fmt: skip
    report(args, results, scaled)


def report(
    args: argparse.Namespace, results: dict[str, list[Measurement]], scaled: dict[int, list[float]]
) -> None:
    native_name = "NeMo Relay 0.10.4 native, Redis"
    medians = {name: statistics.median(m.rate for m in ms) for name, ms in results.items()}
    base = medians.get(native_name) or next(iter(medians.values()), 1.0)
    bare_rate = medians.get("NeMo Relay, no adaptive runtime")
    if results:
        runs, repeat = args.runs, args.repeat
        print(f"\nscripted NeMo Relay agent, {runs} runs, median of {repeat} (interleaved)\n")
        print("| mode | events | events/s (runs) | median | x native | of no-adaptive | notes |")
        print("|---|---|---|---|---|---|---|")
    for name, measurements in results.items():
        rates = " / ".join(f"{m.rate:,.0f}" for m in measurements)
        share = f"{medians[name] / bare_rate:.0%}" if bare_rate else ""
        notes = "; ".join(
            f"{key} {statistics.median(m.extra[key] for m in measurements):,.1f}"
            for key in measurements[0].extra
        )
        print(
            f"| {name} | {measurements[0].events} | {rates} | {medians[name]:,.0f} | "
            f"x{medians[name] / base:.2f} | {share} | {notes} |"
        )
    if scaled[1]:
        one, two = statistics.median(scaled[1]), statistics.median(scaled[2])
        print(f"\nworkers learning a prefilled stream (2 agents x {args.scaling} runs, PostgreSQL)")
        print()
        print("| workers | runs/s (runs) | median | x 1 worker |")
        print("|---|---|---|---|")
        for workers, rates in scaled.items():
            median = one if workers == 1 else two
            shown = " / ".join(f"{rate:,.0f}" for rate in rates)
            print(f"| {workers} | {shown} | {median:,.0f} | x{median / one:.2f} |")


if __name__ == "__main__":
    main()
