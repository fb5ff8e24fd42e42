"""The ``Learner`` protocol: completed runs in, new state out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from adaptive.hot_cache import HotCache
from adaptive.records import RunRecord
from adaptive.storage.protocol import StateChanges, StateReader


def _no_refresh(_: HotCache) -> None:
    return None


@dataclass
class LearnerUpdate:
    """A learner's result for one batch: state to commit, then a cache refresh.

    The refresh runs only after the backend committed ``changes``, so the hot
    path never sees state that storage does not have.
    """

    changes: StateChanges = field(default_factory=StateChanges)
    refresh: Callable[[HotCache], None] = _no_refresh


class Learner(Protocol):
    """Learns from a batch of newly stored runs of one agent.

    ``learn`` reads state only through ``state`` and must not mutate loaded
    objects: the backend may run it again on fresh state if another process
    committed first. Runs arrive in completion order, and the result must equal
    learning from them one at a time.
    """

    name: str

    async def learn(
        self, agent_id: str, runs: Sequence[RunRecord], state: StateReader
    ) -> LearnerUpdate: ...
