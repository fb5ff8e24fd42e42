"""The ``adaptive`` command."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from adaptive.config import AdaptiveConfig, load_config, with_learners
from adaptive.errors import AdaptiveError
from adaptive.ingest import IngestSummary, batch_gc_thresholds
from adaptive.ingest import ingest as run_ingest
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.export import export_state

app = typer.Typer(help="Learn from agent runs and inspect what was learned.", no_args_is_help=True)
state_app = typer.Typer(help="Learner state.", no_args_is_help=True)
app.add_typer(state_app, name="state")
db_app = typer.Typer(help="Schema migrations of a SQL backend.", no_args_is_help=True)
app.add_typer(db_app, name="db")

err_console = Console(stderr=True)

BackendOption = Annotated[
    str | None,
    typer.Option("--backend", help="Backend URL, e.g. memory:// (default from config/env)."),
]
AgentOption = Annotated[str | None, typer.Option("--agent-id", help="Agent id runs belong to.")]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML config or NeMo Relay plugins.toml.")
]


def _configure(
    config_path: Path | None, backend: str | None, agent_id: str | None
) -> AdaptiveConfig:
    config = load_config(config_path)
    if backend is not None:
        config = config.with_backend_url(backend)
    if agent_id is not None:
        config = config.model_copy(update={"agent_id": agent_id})
    return config


def _fail(error: Exception) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {error}")
    return typer.Exit(code=2)


def _print_summary(summary: IngestSummary) -> None:
    console = Console()
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
    console.print(table)
    for example in report.examples[:20]:
        err_console.print(
            f"line {example.line_number}: {example.reason.value}: {example.detail}",
            highlight=False,
            markup=False,
        )
    if len(report.examples) > 20 or report.skipped_total > len(report.examples):
        err_console.print(f"... {report.skipped_total - 20} more skipped line(s)")


@app.command()
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
) -> None:
    """Read an ATOF trace, store its runs and learn from them."""
    try:
        config = _configure(config_path, backend, agent_id)
        if learners is not None:
            config = with_learners(config, learners)
        if source != "-" and not Path(source).is_file():
            raise AdaptiveError(f"trace file not found: {source}")
        with batch_gc_thresholds():
            summary = asyncio.run(run_ingest(source, config, export=export is not None))
    except AdaptiveError as error:
        raise _fail(error) from error
    _print_summary(summary)
    if export is not None and summary.state is not None:
        export.write_text(json.dumps(summary.state, indent=2, sort_keys=True) + "\n")


@state_app.command("export")
def state_export(
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Print the learned state as one JSON object keyed like NeMo Relay's Redis keys."""
    try:
        config = _configure(config_path, backend, agent_id)
        state = asyncio.run(_export(config))
    except AdaptiveError as error:
        raise _fail(error) from error
    sys.stdout.write(json.dumps(state, indent=2, sort_keys=True) + "\n")


async def _export(config: AdaptiveConfig) -> dict[str, Any]:
    runtime = AdaptiveRuntime(config, learners=[])
    await runtime.backend.open()
    try:
        return await export_state(runtime.backend, config.agent_id)
    finally:
        await runtime.backend.close()


def _sql_url(config_path: Path | None, backend: str | None) -> str:
    from adaptive.config import BackendKind
    from adaptive.storage.factory import backend_url

    spec = _configure(config_path, backend, None).backend
    if spec.kind not in (BackendKind.SQLITE, BackendKind.POSTGRES):
        raise AdaptiveError(
            f"backend kind {spec.kind.value!r} has no schema to migrate; "
            "name a sqlite:/// or postgresql:// backend"
        )
    return backend_url(spec)


def _migrate(config_path: Path | None, backend: str | None, direction: str, revision: str) -> None:
    """Run one migration direction and print where the database ended up."""
    from adaptive.storage.sql import migrate

    step = migrate.upgrade if direction == "upgrade" else migrate.downgrade
    try:
        url = _sql_url(config_path, backend)
        asyncio.run(step(url, revision))
        now = asyncio.run(migrate.current(url))
    except AdaptiveError as error:
        raise _fail(error) from error
    Console().print(f"database at revision {now or 'base (empty)'}")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    backend: BackendOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Migrate the database up to a revision (default: the newest)."""
    _migrate(config_path, backend, "upgrade", revision)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, or 'base' for empty.")],
    backend: BackendOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Migrate the database down to a revision."""
    _migrate(config_path, backend, "downgrade", revision)


@db_app.command("current")
def db_current(backend: BackendOption = None, config_path: ConfigOption = None) -> None:
    """Print the revision the database is at, and whether it is the newest."""
    from adaptive.storage.sql import migrate

    try:
        url = _sql_url(config_path, backend)
        now = asyncio.run(migrate.current(url))
        head = migrate.head_revision()
    except AdaptiveError as error:
        raise _fail(error) from error
    status = "up to date" if now == head else f"behind head {head}: run adaptive db upgrade"
    Console().print(f"{now or 'base (empty)'} ({status})")


@db_app.command("history")
def db_history() -> None:
    """List the schema revisions, oldest first."""
    from adaptive.storage.sql import migrate

    try:
        revisions = migrate.history()
        head = migrate.head_revision()
    except AdaptiveError as error:
        raise _fail(error) from error
    table = Table("revision", "down revision", "message")
    for revision in revisions:
        marker = " (head)" if revision.revision == head else ""
        table.add_row(revision.revision + marker, revision.down_revision or "-", revision.message)
    Console().print(table)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
