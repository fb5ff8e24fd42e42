"""NeMo Relay's Redis key names, with the backend's prefix, and SCAN patterns for them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

from adaptive.storage import keys

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def hash_tag(prefix: str) -> str | None:
    """The hash tag that decides the slot of every key starting with ``prefix``, if any.

    Redis Cluster hashes only the text between a key's first ``{`` and the
    next ``}`` when that text is not empty. A prefix holding such a tag puts
    all the keys of one prefix (so every key of a unit of work) in one slot;
    without one, the rest of the key (agent id, run id) scatters them.
    """
    start = prefix.find("{")
    end = prefix.find("}", start + 1) if start >= 0 else -1
    return prefix[start + 1 : end] if end > start + 1 else None


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
