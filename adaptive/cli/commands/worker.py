"""``adaptive worker``: learn runs that agent processes published to a Redis Stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from adaptive.cli.options import (
    BackendOption,
    ConfigOption,
    configure,
    console,
    exit_2_on_domain_errors,
    run,
)

if TYPE_CHECKING:
    from adaptive.transport.worker import WorkerStats

TransportOption = Annotated[
    str | None,
    typer.Option(
        "--transport",
        help="Transport URL, e.g. redis+streams://127.0.0.1:6379/0?stream=adaptive:runs "
        "(default from config [transport] url or ADAPTIVE_TRANSPORT).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command()(worker)


def worker(
    transport: TransportOption = None,
    backend: BackendOption = None,
    config_path: ConfigOption = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", min=0, max=65535, help="Serve /metrics on this port."),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address the metrics server binds.")
    ] = "127.0.0.1",
    consumer: Annotated[
        str | None,
        typer.Option("--consumer", help="Consumer name in the group (default host:pid:random)."),
    ] = None,
) -> None:
    """Read completed runs from the stream, learn and store them, acknowledge after commit.

    Any number of workers may run on any hosts; SIGTERM finishes the batch in
    hand, acknowledges it and exits 0.
    """
    import logging

    from adaptive.transport.service import announce_ready, serve

    logging.getLogger("adaptive").setLevel(logging.INFO)
    with exit_2_on_domain_errors():
        config = configure(config_path, backend, None)
        if transport is not None:
            config = config.with_transport_url(transport)
    stats = run(
        serve(
            config,
            consumer=consumer,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            ready=announce_ready,
        )
    )
    _print_summary(stats)


def _print_summary(stats: WorkerStats) -> None:
    units = stats.units
    console().print(
        f"entries read {stats.entries_read}, claimed {stats.entries_claimed}, "
        f"acknowledged {stats.entries_acknowledged}, dead-lettered {stats.dead_letters}; "
        f"runs stored {units.runs_stored}, already stored {units.runs_duplicate}, "
        f"rejected {units.runs_rejected}; units {units.batches}",
        highlight=False,
    )
