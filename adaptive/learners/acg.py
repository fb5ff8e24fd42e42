"""ACG learner: prompt stability per learning key (DESIGN §5.3, seed 001).

Each annotated LLM request becomes a ``PromptIR`` observation appended to its
learning key's bounded window; the window's stability result is stored with
it. The best profile among the keys a run touched (by stable prefix length,
then observation count) is stored again under the plain agent id, which is
what the hot path and NeMo Relay's runtime seed from.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from adaptive.acg import (
    PromptIR,
    PromptIRError,
    StabilityAnalysisResult,
    StabilityThresholds,
    StabilityWindow,
    build_prompt_ir,
    derive_learning_key,
)
from adaptive.config import AcgConfig
from adaptive.hot_cache import HotCache
from adaptive.learners.base import LearnerUpdate
from adaptive.records import CallKind, RunRecord
from adaptive.storage.protocol import StateChanges, StateReader

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Profile:
    """A window's content and result right after one run touched it."""

    observations: list[PromptIR]
    result: StabilityAnalysisResult

    def rank(self) -> tuple[int, int]:
        return (self.result.stable_prefix_length, self.result.total_observations)


def observations_by_key(agent_id: str, run: RunRecord) -> dict[str, list[PromptIR]]:
    """The run's annotated LLM requests as IR, grouped by learning key in call order.

    A request that cannot be turned into IR is skipped, as NeMo Relay does.
    """
    grouped: dict[str, list[PromptIR]] = {}
    for call in run.calls:
        if call.kind is not CallKind.LLM or call.annotated_request is None:
            continue
        try:
            observation = build_prompt_ir(call.annotated_request)
            key = derive_learning_key(agent_id, call.annotated_request)
        except PromptIRError as error:
            logger.debug("run %s: request of call %r skipped: %s", run.id, call.name, error)
            continue
        grouped.setdefault(key, []).append(observation)
    return grouped


class AcgLearner:
    """Keeps one ``StabilityWindow`` per learning key across batches.

    A cached window is reused only while it still holds exactly what storage
    holds (same length and the same first and last observation ids), so a
    window another process advanced, or a commit that failed, forces a
    rebuild from the stored observations instead of a wrong increment.
    """

    name = "acg"

    def __init__(
        self, observation_window: int = 100, thresholds: StabilityThresholds | None = None
    ) -> None:
        self.observation_window = observation_window
        self.thresholds = thresholds if thresholds is not None else StabilityThresholds()
        self._windows: dict[str, StabilityWindow] = {}

    @classmethod
    def from_config(cls, config: AcgConfig) -> AcgLearner:
        limits = config.stability_thresholds
        return cls(
            config.observation_window,
            StabilityThresholds(
                stable_threshold=limits.stable_threshold,
                semi_stable_threshold=limits.semi_stable_threshold,
                min_observations_for_full_confidence=limits.min_observations_for_full_confidence,
            ),
        )

    async def learn(
        self, agent_id: str, runs: Sequence[RunRecord], state: StateReader
    ) -> LearnerUpdate:
        windows: dict[str, StabilityWindow] = {}
        results: dict[str, StabilityAnalysisResult] = {}
        aggregate: _Profile | None = None
        for run in runs:
            touched = observations_by_key(agent_id, run)
            if not touched:
                continue
            best: _Profile | None = None
            for key, observations in touched.items():
                window = windows.get(key)
                if window is None:
                    window = windows[key] = await self._window(key, state)
                window.extend(observations)
                results[key] = window.profile_result(key)
                profile = _Profile(window.observations, results[key])
                if best is None or profile.rank() > best.rank():
                    best = profile
            aggregate = best
        if not windows:
            return LearnerUpdate()
        return self._update(agent_id, windows, results, aggregate)

    async def _window(self, key: str, state: StateReader) -> StabilityWindow:
        stored = await state.load_observations(key) or []
        cached = self._windows.get(key)
        if cached is not None and _same_window(cached.observations, stored):
            return cached
        window = StabilityWindow(self.observation_window, self.thresholds, stored)
        self._windows[key] = window
        return window

    def _update(
        self,
        agent_id: str,
        windows: dict[str, StabilityWindow],
        results: dict[str, StabilityAnalysisResult],
        aggregate: _Profile | None,
    ) -> LearnerUpdate:
        changes = StateChanges(
            observations={key: window.observations for key, window in windows.items()},
            stability=dict(results),
        )
        if aggregate is not None:
            changes.observations[agent_id] = aggregate.observations
            changes.stability[agent_id] = aggregate.result

        def refresh(cache: HotCache) -> None:
            cache.acg_profiles = {**cache.acg_profiles, **results}
            cache.acg_profile_observation_counts = {
                **cache.acg_profile_observation_counts,
                **{key: result.total_observations for key, result in results.items()},
            }
            if aggregate is not None:
                cache.acg_stability = aggregate.result
                cache.acg_observation_count = aggregate.result.total_observations

        return LearnerUpdate(changes=changes, refresh=refresh)


def _same_window(cached: list[PromptIR], stored: list[PromptIR]) -> bool:
    if len(cached) != len(stored):
        return False
    if not stored:
        return True
    return cached[0].ir_id == stored[0].ir_id and cached[-1].ir_id == stored[-1].ir_id
