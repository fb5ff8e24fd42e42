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
DEFAULT_MAX_OUTAGE_S = 60.0
"""How long a batch ingest waits for storage that is down (or full) before it gives up."""


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
    table.add_row("numbers dropped (invalid_number)", str(summary.invalid_numbers))
    table.add_row("runs completed", str(stats.runs_completed))
    table.add_row("runs stored", str(stats.runs_stored))
    table.add_row("runs already stored", str(stats.runs_duplicate))
    table.add_row("runs rejected", str(stats.runs_rejected))
    if stats.runs_not_stored:
        table.add_row("runs not stored (storage unavailable)", str(stats.runs_not_stored))
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
    shown = min(len(report.examples), 20)
    if report.skipped_total > shown:
        errors.print(f"... {report.skipped_total - shown} more skipped line(s)")


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
    max_outage: Annotated[
        float | None,
        typer.Option(
            "--max-outage",
            min=0.1,
            help="Give up when storage stays unavailable this many seconds "
            "(default: drain.give_up_after_s, else 60).",
        ),
    ] = None,
) -> None:
    """Read an ATOF trace (plain or gzip), store its runs and learn from them.

    Exit code 0: every completed run was stored (or already was); 1: runs
    were rejected or could not be stored; 2: nothing usable was read, or the
    command could not start (bad option, unreachable backend).
    """
    from adaptive.cli.ingest import batch_gc_thresholds
    from adaptive.config import with_learners

    with exit_2_on_domain_errors():
        config = configure(config_path, backend, agent_id)
        if learners is not None:
            config = with_learners(config, learners)
        if max_outage is not None or config.drain.give_up_after_s is None:
            drain = config.drain.model_copy(
                update={"give_up_after_s": max_outage or DEFAULT_MAX_OUTAGE_S}
            )
            config = config.model_copy(update={"drain": drain})
        _check_trace(source)
        with batch_gc_thresholds():
            summary = _ingest_with_optional_progress(source, config, export is not None, progress)
    _print_summary(summary)
    if export is not None and summary.state is not None:
        export.write_text(json.dumps(summary.state, indent=2, sort_keys=True) + "\n")
    outcome = summary.outcome(source)
    if outcome is not None:
        from rich.text import Text

        error_console().print(Text.assemble(("error: ", "bold red"), outcome), highlight=False)
    if summary.exit_code:
        raise typer.Exit(code=summary.exit_code)


def _check_trace(source: str) -> None:
    """A path that is not a readable file gets a one-line reason, not a traceback."""
    if source == "-":
        return
    path = Path(source)
    if path.is_dir():
        raise AdaptiveError(
            f"trace path {source} is a directory; give an ATOF JSONL file "
            "(plain or .gz), or - for standard input"
        )
    if not path.is_file():
        raise AdaptiveError(f"trace file not found: {source}")
    try:
        path.open("rb").close()
    except OSError as error:
        raise AdaptiveError(f"cannot read trace file {source}: {error.strerror}") from error
