"""The README's NeMo Relay example is the file under examples/, and it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "relay_bridge.py"


def test_readme_shows_the_example_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{EXAMPLE.read_text()}```" in readme


def test_relay_example_learns_into_postgresql(fresh_postgres_url: str) -> None:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=ROOT,
        env={**os.environ, "ADAPTIVE_BACKEND": fresh_postgres_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert "learned fan-outs: [['fetch', 'search']]" in lines
    assert "runs stored: 5" in lines
    hinted = [line for line in lines if line.startswith("agent hints: {")]
    assert len(hinted) == 2 * (5 - 1)  # both requests of every run after the first
