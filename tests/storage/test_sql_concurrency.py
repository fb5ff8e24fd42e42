"""Four OS processes learning for one agent against one PostgreSQL lose nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from adaptive.config import AdaptiveConfig
from adaptive.ingest import ingest
from tests.storage.figures import assert_same_learning
from tests.traces import replicated_trace, split_by_run, write_trace

PROCESSES = 4


def adaptive_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "adaptive.cli", *args]


async def single_process_state(trace: Path, agent: str) -> dict[str, Any]:
    config = AdaptiveConfig(agent_id=agent).with_backend_url("memory://")
    summary = await ingest(trace, config, export=True)
    assert summary.state is not None
    return summary.state


def test_four_processes_equal_one(postgres_url: str, tmp_path: Path) -> None:
    agent = f"planner-{uuid.uuid4().hex[:8]}"
    events = replicated_trace(10)  # 400 runs, 5,760 events
    whole = write_trace(events, tmp_path / "whole.jsonl")
    parts = [
        write_trace(part, tmp_path / f"part{index}.jsonl")
        for index, part in enumerate(split_by_run(events, PROCESSES))
    ]
    workers = [
        subprocess.Popen(
            adaptive_command("ingest", str(part), "--backend", postgres_url, "--agent-id", agent),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in parts
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err + out
    exported = subprocess.run(
        adaptive_command("state", "export", "--backend", postgres_url, "--agent-id", agent),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    shared = json.loads(exported.stdout)
    assert len(shared[f"runs_index:{agent}"]) == 400
    assert_same_learning(shared, asyncio.run(single_process_state(whole, agent)), agent)
