"""The backend-neutral state export: NeMo Relay's Redis keys (no prefix) → §4 JSON.

This shape is the contract every backend is checked against: the same trace
ingested into any backend must export to the same object.
"""

from __future__ import annotations

from typing import Any

from adaptive.storage import keys
from adaptive.storage.protocol import StorageBackend

RUN_PAGE = 500


async def export_state(backend: StorageBackend, agent_id: str | None = None) -> dict[str, Any]:
    """Every stored value for one agent, or for every agent the backend knows."""
    agents = [agent_id] if agent_id is not None else await backend.list_agents()
    exported: dict[str, Any] = {}
    for agent in agents:
        exported.update(await _export_agent(backend, agent))
    return exported


async def _export_agent(backend: StorageBackend, agent_id: str) -> dict[str, Any]:
    exported: dict[str, Any] = {}
    if (plan := await backend.load_plan(agent_id)) is not None:
        exported[keys.plan_key(agent_id)] = plan.to_wire()
    if (trie := await backend.load_trie(agent_id)) is not None:
        exported[keys.trie_key(agent_id)] = trie.to_wire()
    if (accumulators := await backend.load_accumulators(agent_id)) is not None:
        exported[keys.accumulators_key(agent_id)] = accumulators.to_wire()
    for acg_key in await backend.list_acg_keys(agent_id):
        if (observations := await backend.load_observations(acg_key)) is not None:
            exported[keys.observations_key(acg_key)] = [ir.to_wire() for ir in observations]
        if (stability := await backend.load_stability(acg_key)) is not None:
            exported[keys.stability_key(acg_key)] = stability.to_wire()
    run_ids = await backend.list_run_ids(agent_id)
    if run_ids:
        exported[keys.runs_index_key(agent_id)] = [str(run_id) for run_id in run_ids]
    for start in range(0, len(run_ids), RUN_PAGE):
        for run in await backend.load_runs(agent_id, run_ids[start : start + RUN_PAGE]):
            exported[keys.run_key(agent_id, run.id)] = run.to_wire()
    return exported
