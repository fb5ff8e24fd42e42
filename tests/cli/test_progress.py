"""``adaptive ingest`` shows a progress bar on a terminal for large files, and only there."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from rich.console import Console

from adaptive.cli.app import app
from adaptive.cli.commands.ingest import PROGRESS_MIN_BYTES, wants_progress
from adaptive.cli.ingest import ingest
from adaptive.config import AdaptiveConfig
from adaptive.events.replicate import replicate
from tests.cli_runs import runner
from tests.factories import SAMPLE_TRACE

TERMINAL = {"TTY_COMPATIBLE": "1"}
"""Makes rich treat the test runner's captured stderr as a terminal."""


@pytest.fixture(scope="module")
def large_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copies of the sample, just over the size that earns a progress bar."""
    path = tmp_path_factory.mktemp("progress") / "large.jsonl"
    per_copy = SAMPLE_TRACE.stat().st_size
    copies = PROGRESS_MIN_BYTES // per_copy + 1
    replicate(SAMPLE_TRACE, path, copies * 576)
    assert path.stat().st_size >= PROGRESS_MIN_BYTES
    return path


def console(*, terminal: bool) -> Console:
    return Console(file=io.StringIO(), force_terminal=terminal)


def test_a_bar_only_for_a_large_file_on_a_terminal_when_enabled(large_trace: Path) -> None:
    assert wants_progress(str(large_trace), True, console(terminal=True))
    assert not wants_progress(str(large_trace), False, console(terminal=True))
    assert not wants_progress(str(large_trace), True, console(terminal=False))
    assert not wants_progress(str(SAMPLE_TRACE), True, console(terminal=True))
    assert not wants_progress("-", True, console(terminal=True))


def test_progress_hears_the_bytes_read_up_to_the_whole_file(large_trace: Path) -> None:
    heard: list[int] = []
    config = AdaptiveConfig().with_backend_url("memory://")
    with_progress = asyncio.run(ingest(large_trace, config, progress=heard.append))
    without = asyncio.run(ingest(large_trace, config))
    assert heard == sorted(heard) and len(heard) > 1
    assert heard[-1] == large_trace.stat().st_size
    assert with_progress.report.events == without.report.events
    assert with_progress.stats.runs_stored == without.stats.runs_stored


def test_the_command_draws_the_bar_on_stderr_of_a_terminal(large_trace: Path) -> None:
    size_mb = f"{large_trace.stat().st_size / 1e6:.1f}/{large_trace.stat().st_size / 1e6:.1f} MB"
    drawn = runner.invoke(app, ["ingest", str(large_trace), "--backend", "memory://"], env=TERMINAL)
    assert drawn.exit_code == 0, drawn.output
    assert size_mb in drawn.stderr and "runs stored" in drawn.stdout

    quiet = ["ingest", str(large_trace), "--backend", "memory://", "--no-progress"]
    silenced = runner.invoke(app, quiet, env=TERMINAL)
    assert silenced.exit_code == 0, silenced.output
    assert "MB" not in silenced.stderr and "runs stored" in silenced.stdout

    piped = runner.invoke(app, ["ingest", str(large_trace), "--backend", "memory://"])
    assert piped.exit_code == 0, piped.output
    assert piped.stderr == ""
