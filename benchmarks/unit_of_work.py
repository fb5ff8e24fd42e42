"""Time one unit of work (64 sample-like runs, all learners) on a backend.

    python -m benchmarks.unit_of_work sqlite:////tmp/bench.db --units 40
    python -m benchmarks.unit_of_work postgresql://postgres@127.0.0.1/bench
    python -m benchmarks.unit_of_work postgresql://postgres@127.0.0.1/bench2 --runs 256

Splits each unit's time into learning (including the state loads it makes)
and storage (run inserts, state writes, commit). ``--runs`` sets the unit's
size (the drain's ``batch_size``, or up to ``max_batch_size`` in a backlog):
comparing sizes shows a unit's fixed cost. Use a fresh database: the runs are
new only once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from adaptive.config import AdaptiveConfig
from adaptive.drain import RunAccumulator
from adaptive.events.model import Event
from adaptive.events.replicate import replicated_events
from adaptive.learners import Learner, build_learners
from adaptive.records import RunRecord
from adaptive.storage.factory import create_backend
from adaptive.storage.protocol import StateChanges, StorageBackend, UnitOfWork

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "research-agent.atof.jsonl"
AGENT = "planner"


def sample_runs(count: int) -> list[RunRecord]:
    accumulator = RunAccumulator(AGENT)
    runs: list[RunRecord] = []
    for raw in replicated_events(SAMPLE, count // 40 + 2):
        run = accumulator.process(Event.model_validate(raw))
        if run is not None:
            runs.append(run)
    return runs[:count]


async def time_unit(
    backend: StorageBackend, learners: Sequence[Learner], batch: list[RunRecord]
) -> tuple[float, float]:
    learning = 0.0

    async def work(unit: UnitOfWork) -> list[RunRecord]:
        nonlocal learning
        fresh = await unit.add_runs(batch)
        started = time.perf_counter()
        changes = StateChanges()
        for learner in learners:
            changes.update((await learner.learn(AGENT, fresh, unit)).changes)
        learning += time.perf_counter() - started
        unit.save(AGENT, changes)
        return fresh

    started = time.perf_counter()
    stored = await backend.run_unit_of_work(work)
    assert len(stored) == len(batch), "runs were stored before: use a fresh database"
    return time.perf_counter() - started, learning


async def main(url: str, units: int, size: int) -> None:
    config = AdaptiveConfig(agent_id=AGENT).with_backend_url(url)
    if config.backend.kind.value == "postgres":
        config.backend.config["auto_upgrade"] = True
    backend = create_backend(config.backend)
    await backend.open()
    learners = build_learners(config)
    runs = sample_runs(units * size)
    totals, learning = [], []
    try:
        for start in range(0, len(runs), size):
            total, learned = await time_unit(backend, learners, runs[start : start + size])
            totals.append(total)
            learning.append(learned)
    finally:
        await backend.close()
    total, learned = statistics.median(totals[3:]), statistics.median(learning[3:])
    print(f"backend   {url}")
    print(f"units     {len(totals)} of {size} runs (median of all but the first 3)")
    print(f"total     {total * 1000:.1f} ms")
    print(f"learning  {learned * 1000:.1f} ms")
    storage = total - learned
    print(f"storage   {storage * 1000:.1f} ms ({storage / size * 1000:.2f} ms/run)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--runs", type=int, default=64, help="runs per unit")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.units, args.runs))
