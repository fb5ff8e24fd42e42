"""Learners: each turns completed runs into state behind one protocol."""

from __future__ import annotations

from collections.abc import Sequence

from adaptive.config import AcgConfig, AdaptiveConfig
from adaptive.learners.base import Learner, LearnerUpdate


def build_learners(config: AdaptiveConfig, names: Sequence[str] | None = None) -> list[Learner]:
    """The configured learners, in the configured order (none when telemetry is off)."""
    from adaptive.learners.acg import AcgLearner
    from adaptive.learners.latency_sensitivity import LatencySensitivityLearner
    from adaptive.learners.tool_parallelism import ToolParallelismLearner

    built: list[Learner] = []
    for name in names if names is not None else config.learner_names:
        if name == "tool_parallelism":
            built.append(ToolParallelismLearner())
        elif name == "latency_sensitivity":
            built.append(LatencySensitivityLearner(sensitivity_scale=config.sensitivity_scale))
        elif name == "acg":
            built.append(AcgLearner.from_config(config.acg or AcgConfig()))
        else:
            raise ValueError(f"unknown learner {name!r}")
    return built


__all__ = ["Learner", "LearnerUpdate", "build_learners"]
