"""The README's NeMo Relay examples are the files under examples/, they run, and they do
what the README says they do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "relay_bridge.py"
PLUGINS_TOML = ROOT / "examples" / "plugins.toml"
HINTS_LINE = "  agent hints:"


def readme() -> str:
    return (ROOT / "README.md").read_text()


def readme_output_block() -> list[str]:
    """The ```text block after "It prints" in the bridge section."""
    text = readme()
    start = text.index("```text\n", text.index("It prints (the `agent hints:` lines")) + 8
    return text[start : text.index("```", start)].splitlines()


def test_readme_shows_the_examples_verbatim() -> None:
    assert f"```python\n{EXAMPLE.read_text()}```" in readme()
    assert f"```toml\n{PLUGINS_TOML.read_text()}```" in readme()


def test_relay_example_does_what_the_readme_says(fresh_postgres_url: str) -> None:
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
    # Everything but the hints (whose iat is measured) is printed exactly as the README shows.
    assert [line for line in lines if not line.startswith(HINTS_LINE)] == readme_output_block()
    hints = [line for line in lines if line.startswith(HINTS_LINE)]
    assert hints[:2] == [f"{HINTS_LINE} None | in body: False"] * 2  # the first run: bare
    assert all(line.startswith(f"{HINTS_LINE} {{") for line in hints[2:])
    assert len(hints) == 2 * 5
