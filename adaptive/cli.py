"""The ``adaptive`` command.

Every command that touches storage takes ``--backend URL`` (else the config
file, else ``ADAPTIVE_BACKEND``, else the embedded SQLite default) and fails
with exit code 2 and a one-line message naming the fix when the backend is
unknown, unreachable or behind its migrations. Commands only parse options and
print; the work is done in the modules they call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from adaptive import inspection, render, tabular
from adaptive.config import AdaptiveConfig, BackendKind, load_config, with_learners
from adaptive.errors import AdaptiveError, ConfigError, StorageUnavailableError
from adaptive.ingest import IngestSummary, ProgressCallback, batch_gc_thresholds
from adaptive.ingest import ingest as run_ingest
from adaptive.storage.export import export_state
from adaptive.tabular import OutputFormat

if TYPE_CHECKING:
    from adaptive.analytics import AnalyticsRow, Window
    from adaptive.plan import ExecutionPlan
    from adaptive.records import RunRecord
    from adaptive.trie import PredictionTrieNode

T = TypeVar("T")

app = typer.Typer(help="Learn from agent runs and inspect what was learned.", no_args_is_help=True)
state_app = typer.Typer(help="Learner state.", no_args_is_help=True)
app.add_typer(state_app, name="state")
db_app = typer.Typer(help="Schema migrations of a SQL backend.", no_args_is_help=True)
app.add_typer(db_app, name="db")
runs_app = typer.Typer(help="Stored runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
plan_app = typer.Typer(
    help="The learned execution plan (parallel tool groups).", no_args_is_help=True
)
app.add_typer(plan_app, name="plan")
hints_app = typer.Typer(help="Learned agent hints and trie predictions.", no_args_is_help=True)
app.add_typer(hints_app, name="hints")
analytics_app = typer.Typer(
    help="SQL analytics over the run history (SQLite or PostgreSQL).", no_args_is_help=True
)
app.add_typer(analytics_app, name="analytics")

err_console = Console(stderr=True, soft_wrap=True)

PIPE_WIDTH = 120
"""Columns of tables written to a pipe or file, where rich would assume 80."""
PROGRESS_MIN_BYTES = 1 << 20
"""Traces smaller than this ingest in about a second: no progress bar for them."""
UNREACHABLE_HINT = (
    " (is the server running and reachable? check the URL given by --backend, "
    "the config file or ADAPTIVE_BACKEND)"
)


class Bucket(StrEnum):
    """Width of the time buckets of ``analytics runs``."""

    HOUR = "hour"
    DAY = "day"


class ShowFormat(StrEnum):
    """Output of commands that print one structured object."""

    TABLE = "table"
    JSON = "json"


BackendOption = Annotated[
    str | None,
    typer.Option("--backend", help="Backend URL, e.g. memory:// (default from config/env)."),
]
AgentOption = Annotated[str | None, typer.Option("--agent-id", help="Agent id runs belong to.")]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML config or NeMo Relay plugins.toml.")
]
RowsFormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="table, json or csv.", case_sensitive=False)
]
ShowFormatOption = Annotated[
    ShowFormat, typer.Option("--format", help="table or json.", case_sensitive=False)
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since", help="Only runs started at or after: ISO 8601 (UTC if no offset) or 30m/24h/7d."
    ),
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Only runs started before: ISO 8601 or 30m/24h/7d.")
]


# -- shared plumbing ----------------------------------------------------------


def _configure(
    config_path: Path | None, backend: str | None, agent_id: str | None
) -> AdaptiveConfig:
    """The config the options and environment give; a bad one exits 2 with its message."""
    with _exit_2_on_domain_errors():
        config = load_config(config_path)
        if backend is not None:
            config = config.with_backend_url(backend)
        if agent_id is not None:
            config = config.model_copy(update={"agent_id": agent_id})
    return config


def _message(error: AdaptiveError) -> str:
    """The error as the operator sees it, with the usual fix when the server is down."""
    text = str(error)
    if isinstance(error, StorageUnavailableError):
        text = " ".join(text.split()) + UNREACHABLE_HINT
    return text


def _fail(error: AdaptiveError) -> typer.Exit:
    err_console.print(Text.assemble(("error: ", "bold red"), _message(error)), highlight=False)
    return typer.Exit(code=2)


@contextmanager
def _exit_2_on_domain_errors() -> Iterator[None]:
    """Turn the package's own errors into a message and exit code 2, never a traceback."""
    try:
        yield
    except AdaptiveError as error:
        raise _fail(error) from error


def _run(work: Coroutine[Any, Any, T]) -> T:
    with _exit_2_on_domain_errors():
        return asyncio.run(work)


def _console() -> Console:
    """Standard output: tables as wide as the terminal, or wide enough in a pipe or file.

    Plain lines are not wrapped, so paths and URLs in them stay copyable.
    """
    console = Console(soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def _print_rows(
    model: type[BaseModel],
    rows: Sequence[BaseModel],
    output: OutputFormat | ShowFormat,
    title: str,
) -> None:
    if output == OutputFormat.JSON:
        sys.stdout.write(tabular.rows_json(rows) + "\n")
    elif output == OutputFormat.CSV:
        sys.stdout.write(tabular.rows_csv(model, rows))
    else:
        _console().print(tabular.rows_table(model, rows, title))


# -- ingest -------------------------------------------------------------------


def _print_summary(summary: IngestSummary) -> None:
    console = _console()
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


def wants_progress(source: str, enabled: bool, console: Console) -> bool:
    """A progress bar only helps a person watching a terminal wait for a large file."""
    if not enabled or source == "-" or not console.is_terminal:
        return False
    return Path(source).stat().st_size >= PROGRESS_MIN_BYTES


@contextmanager
def _progress_bar(source: str, console: Console) -> Iterator[ProgressCallback]:
    """A transient bar on stderr, advanced by bytes read; gone when ingest ends."""
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, refresh_per_second=4) as progress:
        task = progress.add_task("ingest", total=Path(source).stat().st_size)
        yield lambda done: progress.update(task, completed=done)


def _ingest_with_optional_progress(
    source: str, config: AdaptiveConfig, export: bool, progress: bool
) -> IngestSummary:
    console = Console(stderr=True)
    if not wants_progress(source, progress, console):
        return asyncio.run(run_ingest(source, config, export=export))
    with _progress_bar(source, console) as on_progress:
        return asyncio.run(run_ingest(source, config, export=export, progress=on_progress))


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
    progress: Annotated[
        bool,
        typer.Option(
            "--progress/--no-progress", help="Progress bar on a terminal for large files."
        ),
    ] = True,
) -> None:
    """Read an ATOF trace, store its runs and learn from them."""
    with _exit_2_on_domain_errors():
        config = _configure(config_path, backend, agent_id)
        if learners is not None:
            config = with_learners(config, learners)
        if source != "-" and not Path(source).is_file():
            raise AdaptiveError(f"trace file not found: {source}")
        with batch_gc_thresholds():
            summary = _ingest_with_optional_progress(source, config, export is not None, progress)
    _print_summary(summary)
    if export is not None and summary.state is not None:
        export.write_text(json.dumps(summary.state, indent=2, sort_keys=True) + "\n")


# -- state export -------------------------------------------------------------


@state_app.command("export")
def state_export(
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Print the learned state as one JSON object keyed like NeMo Relay's Redis keys."""
    config = _configure(config_path, backend, agent_id)
    _print_json(_run(_export(config)))


async def _export(config: AdaptiveConfig) -> dict[str, Any]:
    async with inspection.opened_backend(config.backend) as backend:
        return await export_state(backend, config.agent_id)


# -- runs, plan, hints --------------------------------------------------------


async def _recent_runs(config: AdaptiveConfig, limit: int) -> list[inspection.RunSummary]:
    async with inspection.opened_backend(config.backend) as backend:
        agent = await inspection.resolve_agent(backend, config.agent_id)
        return await inspection.recent_runs(backend, agent, limit)


@runs_app.command("list")
def runs_list(
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest runs to show.")] = 20,
    output: RowsFormatOption = OutputFormat.TABLE,
    config_path: ConfigOption = None,
) -> None:
    """List an agent's newest runs (the only stored agent unless --agent-id names one)."""
    config = _configure(config_path, backend, agent_id)
    rows = _run(_recent_runs(config, limit))
    _print_rows(inspection.RunSummary, rows, output, f"runs (newest {limit})")


async def _find_run(config: AdaptiveConfig, run_id: UUID) -> RunRecord:
    async with inspection.opened_backend(config.backend) as backend:
        return await inspection.find_run(backend, run_id, config.agent_id)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[UUID, typer.Argument(help="Run id (the root agent scope's uuid).")],
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    output: ShowFormatOption = ShowFormat.TABLE,
    config_path: ConfigOption = None,
) -> None:
    """Show one run and its calls (JSON: the stored record, as NeMo Relay writes it)."""
    config = _configure(config_path, backend, agent_id)
    run = _run(_find_run(config, run_id))
    if output == ShowFormat.JSON:
        _print_json(run.to_wire())
        return
    _console().print(render.run_renderable(run))


async def _load_plan(config: AdaptiveConfig) -> tuple[str, ExecutionPlan | None]:
    async with inspection.opened_backend(config.backend) as backend:
        agent = await inspection.resolve_agent(backend, config.agent_id)
        return agent, await backend.load_plan(agent)


@plan_app.command("show")
def plan_show(
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    output: ShowFormatOption = ShowFormat.TABLE,
    config_path: ConfigOption = None,
) -> None:
    """Show the parallel tool groups learned for an agent."""
    config = _configure(config_path, backend, agent_id)
    agent, plan = _run(_load_plan(config))
    if output == ShowFormat.JSON:
        _print_json(None if plan is None else plan.to_wire())
        return
    _console().print(render.plan_renderable(agent, plan))


async def _load_hints(config: AdaptiveConfig) -> tuple[str, PredictionTrieNode | None]:
    async with inspection.opened_backend(config.backend) as backend:
        agent = await inspection.resolve_agent(backend, config.agent_id)
        envelope = await backend.load_trie(agent)
        return agent, None if envelope is None else envelope.root


@hints_app.command("show")
def hints_show(
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    path: Annotated[
        str | None,
        typer.Option("--path", help="Look up the trie for this scope path, e.g. plan or a/b."),
    ] = None,
    call_index: Annotated[
        int | None,
        typer.Option("--call-index", min=1, help="1-based call index for the lookup (default 1)."),
    ] = None,
    output: ShowFormatOption = ShowFormat.TABLE,
    config_path: ConfigOption = None,
) -> None:
    """Show the default agent hints, every trie prediction, and optionally one lookup."""
    config = _configure(config_path, backend, agent_id)
    agent, root = _run(_load_hints(config))
    view = inspection.hints_view(agent, root, config.sensitivity_scale, path, call_index)
    if output == ShowFormat.JSON:
        _print_json(view.to_json())
        return
    _console().print(render.hints_renderable(view))


# -- analytics ----------------------------------------------------------------


def parse_time(text: str | None, option: str, now: datetime | None = None) -> datetime | None:
    """``--since``/``--until``: ISO 8601 (UTC when no offset) or a span back from now."""
    if text is None:
        return None
    spans = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    unit = text[-1:].lower()
    if unit in spans and text[:-1].isdigit():
        moment = now if now is not None else datetime.now(UTC)
        return moment - timedelta(**{spans[unit]: int(text[:-1])})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise ConfigError(
            f"{option} {text!r} is neither ISO 8601 (2026-11-23 or 2026-11-23T21:00:00Z) "
            "nor a span back from now (30m, 24h, 7d, 2w)"
        ) from error
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _analytics_target(
    config_path: Path | None,
    backend: str | None,
    agent_id: str | None,
    since: str | None,
    until: str | None,
) -> tuple[str, Window]:
    """The SQL database and the window the analytics options name."""
    from adaptive.analytics import Window, history_url

    with _exit_2_on_domain_errors():
        config = _configure(config_path, backend, agent_id)
        window = Window(
            agent_id=config.agent_id,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
        )
        return history_url(config.backend), window


async def _query(
    url: str, name: str, window: Window, options: dict[str, Any]
) -> Sequence[AnalyticsRow]:
    from adaptive.analytics import Analytics
    from adaptive.analytics_views import fetch_rows

    async with Analytics.open(url) as analytics:
        return await fetch_rows(analytics, name, window, **options)


def _print_analytics(
    name: str,
    backend: str | None,
    agent_id: str | None,
    since: str | None,
    until: str | None,
    output: OutputFormat,
    config_path: Path | None,
    **options: Any,
) -> None:
    from adaptive.analytics_views import VIEWS

    url, window = _analytics_target(config_path, backend, agent_id, since, until)
    rows = _run(_query(url, name, window, options))
    view = VIEWS[name]
    _print_rows(view.row_model(), rows, output, view.title)


@analytics_app.command("runs")
def analytics_runs(
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    bucket: Annotated[Bucket, typer.Option("--bucket", help="hour or day.")] = Bucket.DAY,
    output: RowsFormatOption = OutputFormat.TABLE,
    config_path: ConfigOption = None,
) -> None:
    """Runs per hour or day: count, errors, duration."""
    _print_analytics(
        "runs", backend, agent_id, since, until, output, config_path, bucket=bucket.value
    )


def _register_plain_analytics(name: str, summary: str) -> None:
    """An ``adaptive analytics NAME`` command taking only the common options."""

    def command(
        backend: BackendOption = None,
        agent_id: AgentOption = None,
        since: SinceOption = None,
        until: UntilOption = None,
        output: RowsFormatOption = OutputFormat.TABLE,
        config_path: ConfigOption = None,
    ) -> None:
        _print_analytics(name, backend, agent_id, since, until, output, config_path)

    command.__doc__ = summary
    analytics_app.command(name)(command)


for _name, _summary in (
    ("tools", "Tool calls per tool: count, errors, latency percentiles."),
    ("models", "LLM calls per model: count, latency, token usage."),
    ("fanout", "How many tools run at once, and which."),
    ("acg", "Prompt-cache stability per ACG profile: stable prefix length, observations."),
):
    _register_plain_analytics(_name, _summary)


@analytics_app.command("slowest")
def analytics_slowest(
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Runs to show.")] = 10,
    output: RowsFormatOption = OutputFormat.TABLE,
    config_path: ConfigOption = None,
) -> None:
    """The slowest runs."""
    _print_analytics("slowest", backend, agent_id, since, until, output, config_path, limit=limit)


# -- report and demo ----------------------------------------------------------


@app.command()
def report(
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Write one self-contained HTML page of analytics tables and charts."""
    from adaptive.report import build_report, save_report

    url, window = _analytics_target(config_path, backend, agent_id, since, until)
    page = _run(build_report(url, window))
    with _exit_2_on_domain_errors():
        save_report(page, out)
    _console().print(f"wrote {out}")


@app.command()
def demo(
    db: Annotated[Path, typer.Option("--db", help="SQLite file to create.")] = Path(
        "adaptive-demo.db"
    ),
    force: Annotated[
        bool,
        typer.Option("--force", help="Overwrite --db even if a previous demo did not make it."),
    ] = False,
    runs: Annotated[int, typer.Option("--runs", min=1, max=5000, help="Runs to simulate.")] = 150,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated workload.")] = 7,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Also write the simulated ATOF trace here.")
    ] = None,
) -> None:
    """Simulate an agent workload into a fresh SQLite file, learn, and show what was learned."""
    from adaptive.demo import DemoOptions, print_demo, run_demo

    options = DemoOptions(db=db, force=force, runs=runs, seed=seed, trace=trace)
    result = _run(run_demo(options))
    print_demo(_console(), result)


# -- db -----------------------------------------------------------------------


def _sql_url(config_path: Path | None, backend: str | None) -> str:
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
    with _exit_2_on_domain_errors():
        url = _sql_url(config_path, backend)
        asyncio.run(step(url, revision))
        now = asyncio.run(migrate.current(url))
    _console().print(f"database at revision {now or 'base (empty)'}")


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

    with _exit_2_on_domain_errors():
        url = _sql_url(config_path, backend)
        now = asyncio.run(migrate.current(url))
        head = migrate.head_revision()
    status = "up to date" if now == head else f"behind head {head}: run adaptive db upgrade"
    _console().print(f"{now or 'base (empty)'} ({status})")


@db_app.command("history")
def db_history() -> None:
    """List the schema revisions, oldest first."""
    from adaptive.storage.sql import migrate

    with _exit_2_on_domain_errors():
        revisions = migrate.history()
        head = migrate.head_revision()
    table = Table("revision", "down revision", "message")
    for revision in revisions:
        marker = " (head)" if revision.revision == head else ""
        table.add_row(revision.revision + marker, revision.down_revision or "-", revision.message)
    _console().print(table)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
