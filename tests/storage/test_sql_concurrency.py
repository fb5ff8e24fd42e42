"""Four OS processes learning for one agent against one PostgreSQL lose nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

from tests.storage.figures import assert_same_learning, single_process_export
from tests.traces import replicated_trace, write_split_trace

PROCESSES = 4


def adaptive_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "adaptive.cli", *args]


def test_four_processes_equal_one(postgres_url: str, tmp_path: Path) -> None:
    agent = f"planner-{uuid.uuid4().hex[:8]}"
    events = replicated_trace(10)  # 400 runs, 5,760 events
    whole, parts = write_split_trace(events, PROCESSES, tmp_path)
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
    assert_same_learning(shared, asyncio.run(single_process_export(whole, agent)), agent)
