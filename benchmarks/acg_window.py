"""Timing of the ACG hot loop on sample-like observations (run on demand, not by pytest).

    python -m benchmarks.acg_window

Fills a 100-observation window with the sample's gpt-x requests, then times
append + result (the learner's per-call work) in the full, evicting state.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adaptive.acg import (
    StabilityWindow,
    analyze_profile_stability,
    build_prompt_ir,
    derive_learning_key,
)

AGENT_ID = "planner"
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "nemo_relay_0_10_4"

WINDOW = 100


def _sample_requests() -> list[dict[str, Any]]:
    state = json.loads((SAMPLE_DIR / "state.json").read_text())["state"]
    return [
        call["annotated_request"]
        for run_id in state[f"runs_index:{AGENT_ID}"]
        for call in state[f"runs:{AGENT_ID}:{run_id}"]["calls"]
        if call["kind"] == "llm" and call.get("annotated_request")
    ]


def _microseconds_per_call(action: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        action()
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    requests = [r for r in _sample_requests() if r.get("model") == "gpt-x"]
    key = derive_learning_key(AGENT_ID, requests[0])
    observations = [build_prompt_ir(r) for r in requests]
    window = StabilityWindow(
        WINDOW, observations=itertools.islice(itertools.cycle(observations), WINDOW)
    )
    window.result()
    feed = itertools.cycle(observations)
    each_request = itertools.cycle(requests)

    def append_and_analyze() -> object:
        window.append(next(feed))
        return window.profile_result(key)

    timings = {
        "build_prompt_ir": _microseconds_per_call(
            lambda: build_prompt_ir(next(each_request)), 2_000
        ),
        "derive_learning_key": _microseconds_per_call(
            lambda: derive_learning_key(AGENT_ID, next(each_request)), 2_000
        ),
        "window append + profile_result (100 obs)": _microseconds_per_call(
            append_and_analyze, 20_000
        ),
        "analyze_profile_stability from scratch (100 obs)": _microseconds_per_call(
            lambda: analyze_profile_stability(window.observations, key), 200
        ),
    }
    for name, micros in timings.items():
        print(f"{name:50s} {micros:9.1f} µs")


if __name__ == "__main__":
    main()
