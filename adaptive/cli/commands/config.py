"""``adaptive config validate``: a config file's diagnostics, as NeMo Relay reports them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from adaptive.cli.options import (
    ShowFormat,
    ShowFormatOption,
    console,
    exit_2_on_domain_errors,
    print_json,
)

if TYPE_CHECKING:
    from adaptive.config import AdaptiveConfig, ConfigReport, ConfigSource

config_app = typer.Typer(
    rich_markup_mode=None, help="Configuration files: check before use.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("validate")
def config_validate(
    path: Annotated[
        Path, typer.Argument(help="Our TOML config, or a NeMo Relay plugins.toml.", metavar="FILE")
    ],
    output: ShowFormatOption = ShowFormat.TABLE,
) -> None:
    """Print every diagnostic of FILE and what it turns on.

    A plugins.toml is read as NeMo Relay reads it (its adaptive_runtime
    component, else its adaptive one; a missing section is off); our own
    TOML turns everything on. Exit code 0: no errors (warnings allowed);
    1: errors (NeMo Relay would refuse to activate it); 2: FILE cannot be read.
    """
    from adaptive.config import read_source

    with exit_2_on_domain_errors():
        source = read_source(path)
        report = source.validate()
    if output == ShowFormat.JSON:
        print_json(_as_json(source, report))
    else:
        _print_table(path, source, report)
    if report.errors:
        raise typer.Exit(code=1)


def _as_json(source: ConfigSource, report: ConfigReport) -> dict[str, Any]:
    return {
        "path": source.path,
        "component": source.component,
        "semantics": source.semantics.value,
        "enabled": source.enabled,
        "valid": not report.errors,
        "diagnostics": [diagnostic.as_relay() for diagnostic in report.diagnostics],
        "parts": parts(report.config) if report.config is not None else None,
    }


def _print_table(path: Path, source: ConfigSource, report: ConfigReport) -> None:
    """One line per diagnostic (level, code, where, message): long messages stay copyable."""
    from adaptive.config import ConfigSemantics

    out = console()
    how = (
        "read as NeMo Relay reads it"
        if source.semantics is ConfigSemantics.RELAY
        else "our own config: every part on unless set otherwise"
    )
    out.print(f"{path}: component {source.component} ({how})", highlight=False, markup=False)
    if not source.enabled:
        out.print("enabled = false: validated, but NeMo Relay will not activate it", markup=False)
    for diagnostic in report.diagnostics:
        out.print(str(diagnostic), highlight=False, markup=False)
    errors, warnings = len(report.errors), len(report.warnings)
    out.print(f"{errors} error(s), {warnings} warning(s)", highlight=False, markup=False)
    if report.config is not None:
        for name, state in parts(report.config).items():
            out.print(f"  {name}: {state}", highlight=False, markup=False)


def parts(config: AdaptiveConfig) -> dict[str, str]:
    """What the config turns on, part by part, and why a part is off."""
    backend = config.backend.kind.value
    if config.telemetry is None:
        learning = "off (no telemetry section)"
    elif config.state is None:
        learning = "off (no state backend)"
    else:
        names = ", ".join(config.learner_names) or "none: runs are stored, nothing learned"
        learning = f"on, into {backend}; learners: {names}"
    hints = config.adaptive_hints
    tools = config.tool_parallelism
    acg = config.acg
    cache = config.response_cache
    return {
        "learning": learning,
        "adaptive_hints": "off (no adaptive_hints section)"
        if hints is None
        else f"on: header {hints.header_name if hints.inject_header else '(none)'}, body "
        f"{hints.inject_body_path or '(none)'}, lookup {hints.lookup.value}",
        "tool_parallelism": "off (no tool_parallelism section)"
        if tools is None
        else f"on: mode {tools.mode.value}",
        "acg": "off (no acg section)"
        if acg is None
        else f"provider {acg.provider.value}; learner "
        f"{'on' if 'acg' in config.learner_names else 'off'}",
        "response_cache": "off (no response_cache section)"
        if cache is None
        else f"on: namespace {cache.namespace!r}, backend {cache.backend.kind}",
    }
