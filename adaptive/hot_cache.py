"""In-process cache of learned state, read by intercepts without any I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adaptive.plan import AgentHints, ExecutionPlan

if TYPE_CHECKING:
    from adaptive.acg import StabilityAnalysisResult
    from adaptive.trie import PredictionTrieNode


@dataclass
class HotCache:
    """What the hot path needs, replaced wholesale by the drain after each commit.

    Fields are replaced, never mutated in place, so a reader on the event loop
    always sees a consistent object.
    """

    plan: ExecutionPlan | None = None
    trie: PredictionTrieNode | None = None
    agent_hints_default: AgentHints | None = None
    acg_profiles: dict[str, StabilityAnalysisResult] = field(default_factory=dict)
    acg_profile_observation_counts: dict[str, int] = field(default_factory=dict)
    acg_stability: StabilityAnalysisResult | None = None
    acg_observation_count: int = 0
    refreshed_at: float | None = None
    """``time.monotonic()`` of the last refresh (after a commit, or a re-seed from storage)."""
