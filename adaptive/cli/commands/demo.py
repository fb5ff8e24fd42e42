"""``adaptive demo``: a simulated week of agent runs, learned from and shown."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adaptive.cli.options import console, run


def register(app: typer.Typer) -> None:
    app.command()(demo)


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
    from adaptive.cli.demo import DemoOptions, print_demo, run_demo

    options = DemoOptions(db=db, force=force, runs=runs, seed=seed, trace=trace)
    result = run(run_demo(options))
    print_demo(console(), result)
