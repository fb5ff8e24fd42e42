"""The order-independent figures of learned state, for multi-process comparisons.

Runs learned in a different order give different t-digests and a different
"last run", but must give the same counts, means and M2 (to rounding), the
same plan groups and the same ACG window sizes and observation totals.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from adaptive.cli.ingest import ingest
from adaptive.config import AdaptiveConfig

STAT_FIELDS = (
    "all_remaining_calls",
    "all_interarrival_ms",
    "all_output_tokens",
    "all_sensitivity",
)
INDEXED_FIELDS = ("remaining_calls", "interarrival_ms", "output_tokens", "sensitivity")


def accumulator_figures(state: dict[str, Any], agent: str) -> dict[str, tuple[int, float, float]]:
    figures: dict[str, tuple[int, float, float]] = {}
    for path, node in state[f"accumulators:{agent}"]["nodes"].items():
        for name in STAT_FIELDS:
            stats = node[name]
            figures[f"{path}/{name}"] = (stats["count"], stats["mean"], stats["m2"])
        for name in INDEXED_FIELDS:
            for index, stats in node[name].items():
                figures[f"{path}/{name}[{index}]"] = (stats["count"], stats["mean"], stats["m2"])
    return figures


def acg_figures(state: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {
        key.removeprefix("acg_stability:"): (
            len(state["acg_observations:" + key.removeprefix("acg_stability:")]),
            value["total_observations"],
        )
        for key, value in state.items()
        if key.startswith("acg_stability:")
    }


def plan_groups(state: dict[str, Any], agent: str) -> dict[str, list[str]]:
    return {
        group["group_id"]: group["tool_names"]
        for group in state[f"plan:{agent}"]["parallel_groups"]
    }


def assert_same_learning(actual: dict[str, Any], expected: dict[str, Any], agent: str) -> None:
    """Counts exact; means and M2 equal to 1e-9 relative; plans and windows equal."""
    assert len(actual[f"runs_index:{agent}"]) == len(expected[f"runs_index:{agent}"])
    assert len(set(actual[f"runs_index:{agent}"])) == len(actual[f"runs_index:{agent}"])
    ours, theirs = accumulator_figures(actual, agent), accumulator_figures(expected, agent)
    assert ours.keys() == theirs.keys()
    for name, (count, mean, m2) in theirs.items():
        got_count, got_mean, got_m2 = ours[name]
        assert got_count == count, f"{name}: count {got_count} != {count}"
        assert math.isclose(got_mean, mean, rel_tol=1e-9, abs_tol=1e-12), name
        assert math.isclose(got_m2, m2, rel_tol=1e-9, abs_tol=1e-9), name
    assert plan_groups(actual, agent) == plan_groups(expected, agent)
    assert acg_figures(actual) == acg_figures(expected)


async def single_process_export(trace: Path, agent: str) -> dict[str, Any]:
    """What one process learns from the whole trace (the reference for many processes)."""
    config = AdaptiveConfig(agent_id=agent).with_backend_url("memory://")
    summary = await ingest(trace, config, export=True)
    assert summary.state is not None
    return summary.state
