"""The backend-neutral state names NeMo Relay uses as Redis keys (without prefix)."""

from __future__ import annotations

from uuid import UUID

PROFILE_SEPARATOR = "::"


def plan_key(agent_id: str) -> str:
    return f"plan:{agent_id}"


def trie_key(agent_id: str) -> str:
    return f"trie:{agent_id}"


def accumulators_key(agent_id: str) -> str:
    return f"accumulators:{agent_id}"


def observations_key(acg_key: str) -> str:
    return f"acg_observations:{acg_key}"


def stability_key(acg_key: str) -> str:
    return f"acg_stability:{acg_key}"


def runs_index_key(agent_id: str) -> str:
    return f"runs_index:{agent_id}"


def run_key(agent_id: str, run_id: UUID) -> str:
    return f"runs:{agent_id}:{run_id}"


def acg_key_belongs_to(acg_key: str, agent_id: str) -> bool:
    """Whether an ACG key is the agent's aggregate key or one of its profile keys."""
    return acg_key == agent_id or acg_key.startswith(agent_id + PROFILE_SEPARATOR)
