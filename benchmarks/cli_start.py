"""Whole-process timings of the command line: what a user waits for at a terminal.

    python -m benchmarks.cli_start [--repeat 15]

Runs each case as a fresh ``adaptive`` process (the venv's script, as a user
types it) and prints the median and the spread:

- ``adaptive --help``;
- ``adaptive runs list`` on a small SQLite file (the 40-run example, ingested once);
- ``adaptive ingest`` of the 40-run example into a new SQLite file (schema
  created on first open), and into an existing one (every run already stored).

Targets (issue 10, medians on the 2-core build machine): help ≤ 150 ms,
runs list ≤ 350 ms, ingest ≤ 0.8 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "research-agent.atof.jsonl"
TARGETS_MS = {"help": 150, "runs list": 350, "ingest, new file": 800, "ingest, existing file": 800}


def adaptive_script() -> str:
    beside = Path(sys.executable).with_name("adaptive")
    found = str(beside) if beside.is_file() else shutil.which("adaptive")
    if found is None:
        raise SystemExit("the adaptive script is not installed: pip install -e .")
    return found


def timed(command: list[str], before: Callable[[], None] | None = None) -> float:
    if before is not None:
        before()
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    script = adaptive_script()
    with tempfile.TemporaryDirectory() as scratch:
        small = f"sqlite:///{scratch}/small.db"
        subprocess.run(
            [script, "ingest", str(EXAMPLE), "--backend", small], check=True, capture_output=True
        )
        fresh = Path(scratch) / "fresh.db"

        def remove_fresh() -> None:
            for path in Path(scratch).glob("fresh.db*"):
                path.unlink()

        cases: dict[str, tuple[list[str], Callable[[], None] | None]] = {
            "help": ([script, "--help"], None),
            "runs list": ([script, "runs", "list", "--backend", small], None),
            "ingest, new file": (
                [script, "ingest", str(EXAMPLE), "--backend", f"sqlite:///{fresh}"],
                remove_fresh,
            ),
            "ingest, existing file": ([script, "ingest", str(EXAMPLE), "--backend", small], None),
        }
        timings: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeat):  # interleaved, so a noisy moment hits every case alike
            for name, (command, before) in cases.items():
                timings[name].append(timed(command, before))
    print(f"| command | median | min | max | target | runs: {args.repeat} |")
    print("|---|---|---|---|---|---|")
    for name, values in timings.items():
        median = statistics.median(values)
        verdict = "ok" if median <= TARGETS_MS[name] else "over"
        print(
            f"| {name} | {median:.0f} ms | {min(values):.0f} ms | {max(values):.0f} ms "
            f"| ≤ {TARGETS_MS[name]} ms | {verdict} |"
        )


if __name__ == "__main__":
    main()
