"""NeMo Relay's Redis key names, with the backend's prefix, and SCAN patterns for them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

from adaptive.storage import keys

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis MATCH pattern (agent ids may contain ``*``)."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class Keyspace:
    """Every key this backend reads or writes is ``prefix`` + a name from ``keys``."""

    prefix: str

    def run(self, agent_id: str, run_id: UUID | str) -> str:
        return f"{self.prefix}runs:{agent_id}:{run_id}"

    def runs_index(self, agent_id: str) -> str:
        return self.prefix + keys.runs_index_key(agent_id)

    def plan(self, agent_id: str) -> str:
        return self.prefix + keys.plan_key(agent_id)

    def trie(self, agent_id: str) -> str:
        return self.prefix + keys.trie_key(agent_id)

    def accumulators(self, agent_id: str) -> str:
        return self.prefix + keys.accumulators_key(agent_id)

    def observations(self, acg_key: str) -> str:
        return self.prefix + keys.observations_key(acg_key)

    def stability(self, acg_key: str) -> str:
        return self.prefix + keys.stability_key(acg_key)

    def pattern(self, name: str) -> str:
        """A MATCH pattern for every key whose unprefixed name starts with ``name``."""
        return glob_escape(self.prefix + name) + "*"
