"""``adaptive state``: the learned state, as NeMo Relay keeps it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from adaptive.cli.options import (
    AgentOption,
    BackendOption,
    ConfigOption,
    configure,
    print_json,
    run,
)

if TYPE_CHECKING:
    from adaptive.config import AdaptiveConfig

state_app = typer.Typer(rich_markup_mode=None, help="Learner state.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(state_app, name="state")


@state_app.command("export")
def state_export(
    backend: BackendOption = None,
    agent_id: AgentOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Print the learned state as one JSON object keyed like NeMo Relay's Redis keys."""
    config = configure(config_path, backend, agent_id)
    print_json(run(_export(config)))


async def _export(config: AdaptiveConfig) -> dict[str, Any]:
    """The export; an agent (or a backend) with nothing stored is an error, not ``{}``."""
    from adaptive.cli import inspection
    from adaptive.storage.export import export_state

    async with inspection.opened_backend(config.backend) as backend:
        if config.agent_id is not None:
            await inspection.resolve_agent(backend, config.agent_id)
        exported = await export_state(backend, config.agent_id)
        if not exported:
            raise inspection.NotFoundError(
                "the backend holds no runs or state yet; ingest a trace first (adaptive ingest)"
            )
        return exported
