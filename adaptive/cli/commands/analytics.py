"""``adaptive analytics`` and ``adaptive report``: SQL over the run history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from adaptive.cli.options import (
    AgentOption,
    BackendOption,
    ConfigOption,
    OutputFormat,
    RowsFormatOption,
    SinceOption,
    UntilOption,
    configure,
    console,
    exit_2_on_domain_errors,
    print_rows,
    run,
)
from adaptive.errors import ConfigError

if TYPE_CHECKING:
    from adaptive.analytics.queries import AnalyticsRow, Window

analytics_app = typer.Typer(
    rich_markup_mode=None,
    help="SQL analytics over the run history (SQLite or PostgreSQL).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(analytics_app, name="analytics")
    app.command()(report)


class Bucket(StrEnum):
    """Width of the time buckets of ``analytics runs``."""

    HOUR = "hour"
    DAY = "day"


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
    from adaptive.analytics.queries import Window, history_url

    with exit_2_on_domain_errors():
        config = configure(config_path, backend, agent_id)
        window = Window(
            agent_id=config.agent_id,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
        )
        return history_url(config.backend), window


async def _query(
    url: str, name: str, window: Window, options: dict[str, Any]
) -> Sequence[AnalyticsRow]:
    from adaptive.analytics.queries import Analytics
    from adaptive.analytics.views import fetch_rows

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
    from adaptive.analytics.views import VIEWS

    url, window = _analytics_target(config_path, backend, agent_id, since, until)
    rows = run(_query(url, name, window, options))
    view = VIEWS[name]
    print_rows(view.row_model(), rows, output, view.title)


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


def report(
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Write one self-contained HTML page of analytics tables and charts."""
    from adaptive.analytics.report import build_report, save_report

    url, window = _analytics_target(config_path, backend, agent_id, since, until)
    page = run(build_report(url, window))
    with exit_2_on_domain_errors():
        save_report(page, out)
    console().print(f"wrote {out}")
