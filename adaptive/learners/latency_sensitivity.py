"""Latency-sensitivity learner: the prediction trie behind agent hints (DESIGN §5.2)."""

from __future__ import annotations

from collections.abc import Sequence

from adaptive.hot_cache import HotCache
from adaptive.learners.base import LearnerUpdate
from adaptive.records import RunRecord
from adaptive.storage.protocol import StateChanges, StateReader
from adaptive.trie import (
    PredictionTrieBuilder,
    SensitivityConfig,
    TrieEnvelope,
    compute_default_hints,
)


class LatencySensitivityLearner:
    """Folds runs into the agent's accumulators and rebuilds its trie once per batch.

    The trie is a pure function of the accumulators, so building it after the
    last run of a batch gives what NeMo Relay gets by building after each run.
    """

    name = "latency_sensitivity"

    def __init__(self, sensitivity_scale: int = 5) -> None:
        self.config = SensitivityConfig(sensitivity_scale=sensitivity_scale)

    async def learn(
        self, agent_id: str, runs: Sequence[RunRecord], state: StateReader
    ) -> LearnerUpdate:
        loaded = await state.load_accumulators(agent_id)
        builder = PredictionTrieBuilder(self.config, loaded.clone() if loaded is not None else None)
        for run in runs:
            builder.add_run(run)
        root = builder.build()
        envelope = TrieEnvelope.wrap(root, agent_id)
        hints = compute_default_hints(root, self.config.sensitivity_scale)

        def refresh(cache: HotCache) -> None:
            cache.trie = root
            cache.agent_hints_default = hints

        changes = StateChanges(
            accumulators={agent_id: builder.accumulators}, tries={agent_id: envelope}
        )
        return LearnerUpdate(changes=changes, refresh=refresh)
