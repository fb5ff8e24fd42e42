"""What every command shares: its options, its config, and how it fails and prints.

Kept light on purpose: the command line imports this module for ``--help``,
so pydantic, SQLAlchemy and the runtime are imported only inside the
functions that need them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from adaptive.errors import AdaptiveError, StorageUnavailableError

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from adaptive.config import AdaptiveConfig

T = TypeVar("T")

PIPE_WIDTH = 120
"""Columns of tables written to a pipe or file, where rich would assume 80."""
UNREACHABLE_HINT = (
    " (is the server running and reachable? check the URL given by --backend, "
    "the config file or ADAPTIVE_BACKEND)"
)


class OutputFormat(StrEnum):
    """How a command prints rows."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class ShowFormat(StrEnum):
    """How a command prints one structured object."""

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


def configure(
    config_path: Path | None, backend: str | None, agent_id: str | None
) -> AdaptiveConfig:
    """The config the options and environment give; a bad one exits 2 with its message."""
    from adaptive.config import load_config

    with exit_2_on_domain_errors():
        config = load_config(config_path)
        if backend is not None:
            config = config.with_backend_url(backend)
        if agent_id is not None:
            config = config.model_copy(update={"agent_id": agent_id})
    return config


def error_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def message(error: AdaptiveError) -> str:
    """The error as the operator sees it, with the usual fix when the server is down."""
    text = str(error)
    if isinstance(error, StorageUnavailableError):
        text = " ".join(text.split()) + UNREACHABLE_HINT
    return text


def fail(error: AdaptiveError) -> typer.Exit:
    from rich.text import Text

    error_console().print(Text.assemble(("error: ", "bold red"), message(error)), highlight=False)
    return typer.Exit(code=2)


@contextmanager
def exit_2_on_domain_errors() -> Iterator[None]:
    """Turn the package's own errors into a message and exit code 2, never a traceback."""
    try:
        yield
    except AdaptiveError as error:
        raise fail(error) from error


def run(work: Coroutine[Any, Any, T]) -> T:
    import asyncio

    with exit_2_on_domain_errors():
        return asyncio.run(work)


def console() -> Console:
    """Standard output: tables as wide as the terminal, or wide enough in a pipe or file.

    Plain lines are not wrapped, so paths and URLs in them stay copyable.
    """
    from rich.console import Console

    out = Console(soft_wrap=True)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = PIPE_WIDTH
    return out


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def print_rows(
    model: type[BaseModel],
    rows: Sequence[BaseModel],
    output: OutputFormat | ShowFormat,
    title: str,
) -> None:
    from adaptive.cli import tabular

    if output == OutputFormat.JSON:
        sys.stdout.write(tabular.rows_json(rows) + "\n")
    elif output == OutputFormat.CSV:
        sys.stdout.write(tabular.rows_csv(model, rows))
    else:
        console().print(tabular.rows_table(model, rows, title))
