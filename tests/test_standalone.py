"""The repository stands alone: a clone with nothing beside it has all it needs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"\.\./shared|shared/reference|shared/docs|\"shared\" /")
"""How a file would reach the build machine's ``../shared`` folder."""


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    files = [ROOT / name for name in listed if name]
    return [path for path in files if path.is_file() and path.suffix != ".jsonl"]


def test_no_file_refers_to_the_folder_beside_the_repository() -> None:
    offenders = []
    for path in tracked_text_files():
        if path == Path(__file__):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)
        ]
    assert offenders == []


def test_the_reference_sample_ships_with_the_tests() -> None:
    sample = ROOT / "tests" / "data" / "nemo_relay_0_10_4"
    assert (sample / "state.json").stat().st_size > 0
    assert (sample / "trace.jsonl").read_bytes() == (
        ROOT / "examples" / "research-agent.atof.jsonl"
    ).read_bytes()
