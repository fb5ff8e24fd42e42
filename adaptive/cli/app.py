"""The root ``adaptive`` command: every command group registered on one typer app.

Every command that touches storage takes ``--backend URL`` (else the config
file, else ``ADAPTIVE_BACKEND``, else the embedded SQLite default) and fails
with exit code 2 and a one-line message naming the fix when the backend is
unknown, unreachable or behind its migrations. Commands only parse options and
print; the work is done in the modules they call.
"""

from __future__ import annotations

import logging

import typer

from adaptive.cli.commands import analytics, config, db, demo, ingest, inspect, state, worker

app = typer.Typer(
    rich_markup_mode=None,
    help="Learn from agent runs and inspect what was learned.",
    no_args_is_help=True,
)
for _group in (ingest, state, db, inspect, analytics, demo, config, worker):
    _group.register(app)


class _DeadSocketNoise(logging.Filter):
    """asyncio's "socket.send() raised exception." repeats for every write to a connection a
    restarting server dropped; the drain already reports the outage, once, with its cause."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("socket.send() raised exception")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncio").addFilter(_DeadSocketNoise())
    app()
