"""``adaptive db``: schema migrations of a SQL backend (the only commands importing Alembic)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adaptive.cli.options import (
    BackendOption,
    ConfigOption,
    configure,
    console,
    exit_2_on_domain_errors,
)
from adaptive.errors import AdaptiveError

db_app = typer.Typer(
    rich_markup_mode=None, help="Schema migrations of a SQL backend.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


def _sql_url(config_path: Path | None, backend: str | None) -> str:
    from adaptive.config import BackendKind
    from adaptive.storage.factory import backend_url

    spec = configure(config_path, backend, None).backend
    if spec.kind not in (BackendKind.SQLITE, BackendKind.POSTGRES):
        raise AdaptiveError(
            f"backend kind {spec.kind.value!r} has no schema to migrate; "
            "name a sqlite:/// or postgresql:// backend"
        )
    return backend_url(spec)


def _migrate(config_path: Path | None, backend: str | None, direction: str, revision: str) -> None:
    """Run one migration direction and print where the database ended up."""
    import asyncio

    from adaptive.storage.sql import migrate

    step = migrate.upgrade if direction == "upgrade" else migrate.downgrade
    with exit_2_on_domain_errors():
        url = _sql_url(config_path, backend)
        asyncio.run(step(url, revision))
        now = asyncio.run(migrate.current(url))
    console().print(f"database at revision {now or 'base (empty)'}")


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
    import asyncio

    from adaptive.storage.sql import migrate

    with exit_2_on_domain_errors():
        url = _sql_url(config_path, backend)
        now = asyncio.run(migrate.current(url))
        head = migrate.head_revision()
    status = "up to date" if now == head else f"behind head {head}: run adaptive db upgrade"
    console().print(f"{now or 'base (empty)'} ({status})")


@db_app.command("history")
def db_history() -> None:
    """List the schema revisions, oldest first."""
    from rich.table import Table

    from adaptive.storage.sql import migrate

    with exit_2_on_domain_errors():
        revisions = migrate.history()
        head = migrate.head_revision()
    table = Table("revision", "down revision", "message")
    for revision in revisions:
        marker = " (head)" if revision.revision == head else ""
        table.add_row(revision.revision + marker, revision.down_revision or "-", revision.message)
    console().print(table)
