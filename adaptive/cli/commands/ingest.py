"""``adaptive ingest``: learn from a trace file or standard input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from adaptive.cli.options import (
    AgentOption,
    BackendOption,
    ConfigOption,
    configure,
    console,
    error_console,
    exit_2_on_domain_errors,
)
from adaptive.errors import AdaptiveError

if TYPE_CHECKING:
    from rich.console import Console

    from adaptive.cli.ingest import IngestSummary, ProgressCallback
    from adaptive.config import AdaptiveConfig

PROGRESS_MIN_BYTES = 1 << 20
"""Traces smaller than this ingest in about a second: no progress bar for them."""


def register(app: typer.Typer) -> None:
    app.command()(ingest)


def _print_summary(summary: IngestSummary) -> None:
    from rich.table import Table

    report, stats = summary.report, summary.stats
    table = Table(title="ingest", show_header=False)
    rate = summary.events_per_second
    table.add_row("lines read", str(report.lines))
    table.add_row("events read", str(report.events))
    table.add_row("lines skipped", str(report.skipped_total))
    for skip_reason, count in sorted(report.skipped.items()):
        table.add_row(f"  {skip_reason.value}", str(count))
    table.add_row("events not placed in a run", str(sum(summary.dropped.values())))
    for drop_reason, count in sorted(summary.dropped.items()):
        table.add_row(f"  {drop_reason}", str(count))
    table.add_row("runs completed", str(stats.runs_completed))
    table.add_row("runs stored", str(stats.runs_stored))
    table.add_row("runs already stored", str(stats.runs_duplicate))
    table.add_row("runs rejected", str(stats.runs_rejected))
    table.add_row("runs left open", str(summary.open_runs))
    for learner, count in sorted(stats.learner_failures.items()):
        table.add_row(f"learner failures: {learner}", str(count))
    table.add_row("time", f"{summary.seconds:.3f} s ({rate:,.0f} events/s)")
    console().print(table)
    errors = error_console()
    for example in report.examples[:20]:
        errors.print(
            f"line {example.line_number}: {example.reason.value}: {example.detail}",
            highlight=False,
            markup=False,
        )
    if len(report.examples) > 20 or report.skipped_total > len(report.examples):
        errors.print(f"... {report.skipped_total - 20} more skipped line(s)")


def wants_progress(source: str, enabled: bool, terminal: Console) -> bool:
    """A progress bar only helps a person watching a terminal wait for a large file."""
    if not enabled or source == "-" or not terminal.is_terminal:
        return False
    return Path(source).stat().st_size >= PROGRESS_MIN_BYTES


@contextmanager
def _progress_bar(source: str, terminal: Console) -> Iterator[ProgressCallback]:
    """A transient bar on stderr, advanced by bytes read; gone when ingest ends."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=terminal, transient=True, refresh_per_second=4) as progress:
        task = progress.add_task("ingest", total=Path(source).stat().st_size)
        yield lambda done: progress.update(task, completed=done)


def _ingest_with_optional_progress(
    source: str, config: AdaptiveConfig, export: bool, progress: bool
) -> IngestSummary:
    import asyncio

    from rich.console import Console

    from adaptive.cli.ingest import ingest as run_ingest

    terminal = Console(stderr=True)
    if not wants_progress(source, progress, terminal):
        return asyncio.run(run_ingest(source, config, export=export))
    with _progress_bar(source, terminal) as on_progress:
        return asyncio.run(run_ingest(source, config, export=export, progress=on_progress))


def ingest(
    source: Annotated[str, typer.Argument(help="ATOF JSONL trace, or - for standard input.")],
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    learners: Annotated[
        str | None, typer.Option("--learners", help="Comma-separated learner names.")
    ] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the state export here afterwards.")
    ] = None,
    config_path: ConfigOption = None,
    progress: Annotated[
        bool,
        typer.Option(
            "--progress/--no-progress", help="Progress bar on a terminal for large files."
        ),
    ] = True,
) -> None:
    """Read an ATOF trace, store its runs and learn from them."""
    from adaptive.cli.ingest import batch_gc_thresholds
    from adaptive.config import with_learners

    with exit_2_on_domain_errors():
        config = configure(config_path, backend, agent_id)
        if learners is not None:
            config = with_learners(config, learners)
        if source != "-" and not Path(source).is_file():
            raise AdaptiveError(f"trace file not found: {source}")
        with batch_gc_thresholds():
            summary = _ingest_with_optional_progress(source, config, export is not None, progress)
    _print_summary(summary)
    if export is not None and summary.state is not None:
        export.write_text(json.dumps(summary.state, indent=2, sort_keys=True) + "\n")
