"""``adaptive runs|plan|hints``: what is stored and learned, through the storage protocol.

Works on every backend (SQLite, PostgreSQL, Redis, tiered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer

from adaptive.cli.options import (
    AgentOption,
    BackendOption,
    ConfigOption,
    OutputFormat,
    RowsFormatOption,
    ShowFormat,
    ShowFormatOption,
    configure,
    console,
    print_json,
    print_rows,
    run,
)

if TYPE_CHECKING:
    from adaptive.acg import StabilityAnalysisResult
    from adaptive.cli.inspection import RunSummary
    from adaptive.config import AdaptiveConfig
    from adaptive.plan import ExecutionPlan
    from adaptive.records import RunRecord
    from adaptive.trie import PredictionTrieNode

runs_app = typer.Typer(rich_markup_mode=None, help="Stored runs.", no_args_is_help=True)
plan_app = typer.Typer(
    rich_markup_mode=None,
    help="The learned execution plan (parallel tool groups).",
    no_args_is_help=True,
)
hints_app = typer.Typer(
    rich_markup_mode=None, help="Learned agent hints and trie predictions.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
    app.add_typer(plan_app, name="plan")
    app.add_typer(hints_app, name="hints")


async def _recent_runs(config: AdaptiveConfig, limit: int) -> list[RunSummary]:
    from adaptive.cli import inspection

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
    from adaptive.cli.inspection import RunSummary

    config = configure(config_path, backend, agent_id)
    rows = run(_recent_runs(config, limit))
    print_rows(RunSummary, rows, output, f"runs (newest {limit})")


async def _find_run(config: AdaptiveConfig, run_id: UUID) -> RunRecord:
    from adaptive.cli import inspection

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
    from adaptive.cli import render

    config = configure(config_path, backend, agent_id)
    found = run(_find_run(config, run_id))
    if output == ShowFormat.JSON:
        print_json(found.to_wire())
        return
    console().print(render.run_renderable(found))


async def _load_plan(
    config: AdaptiveConfig,
) -> tuple[str, ExecutionPlan | None, StabilityAnalysisResult | None]:
    from adaptive.cli import inspection

    async with inspection.opened_backend(config.backend) as backend:
        agent = await inspection.resolve_agent(backend, config.agent_id)
        return agent, await backend.load_plan(agent), await backend.load_stability(agent)


@plan_app.command("show")
def plan_show(
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    output: ShowFormatOption = ShowFormat.TABLE,
    config_path: ConfigOption = None,
) -> None:
    """Show the parallel tool groups learned for an agent, and whether warm-first gates each.

    Warm-first (tool_parallelism.mode = schedule) holds a group's followers
    back until its first tool ran, when the learned prompt prefix makes that
    pay: the table says, per group, which side of the rule it is on.
    """
    from adaptive.cli import inspection, render

    config = configure(config_path, backend, agent_id)
    agent, plan, stability = run(_load_plan(config))
    verdicts = None if plan is None else inspection.warm_first_verdicts(plan, stability)
    if output == ShowFormat.JSON:
        if plan is None or verdicts is None:
            print_json(None)
            return
        warm_first = [inspection.verdict_json(verdict) for verdict in verdicts]
        print_json({**plan.to_wire(), "warm_first": warm_first})
        return
    tools = config.tool_parallelism
    mode = tools.mode.value if tools is not None else "off"
    console().print(render.plan_renderable(agent, plan, verdicts, mode))


async def _load_hints(config: AdaptiveConfig) -> tuple[str, PredictionTrieNode | None]:
    from adaptive.cli import inspection

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
    from adaptive.cli import inspection, render

    config = configure(config_path, backend, agent_id)
    agent, root = run(_load_hints(config))
    view = inspection.hints_view(agent, root, config.sensitivity_scale, path, call_index)
    if output == ShowFormat.JSON:
        print_json(view.to_json())
        return
    console().print(render.hints_renderable(view))
