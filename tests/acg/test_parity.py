"""The ACG state NeMo Relay 0.10.4 learned from the sample, reproduced exactly.

Every expected value here is read from the sample's ``state.json``.
"""

from __future__ import annotations

from typing import Any

import pytest

from adaptive.acg import (
    PromptIR,
    StabilityWindow,
    analyze_profile_stability,
    build_prompt_ir,
    derive_learning_key,
)
from tests.reference import AGENT_ID

WINDOW = 100  # NeMo Relay's default observation_window
_PER_INSTANCE_FIELDS = ("ir_id", "created_at")


def _learned_windows(requests: list[dict[str, Any]]) -> dict[str, StabilityWindow]:
    windows: dict[str, StabilityWindow] = {}
    for request in requests:
        observation = build_prompt_ir(request)
        key = derive_learning_key(AGENT_ID, request)
        windows.setdefault(key, StabilityWindow(WINDOW)).append(observation)
    return windows


def _profile_keys(state: dict[str, Any], kind: str) -> set[str]:
    prefix = f"{kind}:{AGENT_ID}::"
    return {name[len(kind) + 1 :] for name in state if name.startswith(prefix)}


def _reloaded(observation: PromptIR) -> PromptIR:
    return PromptIR.model_validate_json(observation.to_wire_json())


def _without_instance_ids(observation: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in observation.items() if k not in _PER_INSTANCE_FIELDS}


@pytest.fixture(scope="module")
def learned(sample_requests: list[dict[str, Any]]) -> dict[str, StabilityWindow]:
    return _learned_windows(sample_requests)


def test_learning_keys_are_the_sample_profile_keys(
    learned: dict[str, StabilityWindow], sample_state: dict[str, Any]
) -> None:
    assert set(learned) == _profile_keys(sample_state, "acg_observations")
    assert set(learned) == _profile_keys(sample_state, "acg_stability")


def test_every_window_holds_the_sample_observations(
    learned: dict[str, StabilityWindow], sample_state: dict[str, Any]
) -> None:
    for key, window in learned.items():
        expected = sample_state[f"acg_observations:{key}"]
        produced = [observation.to_wire() for observation in window]
        assert len(produced) == len(expected)
        for ours, theirs in zip(produced, expected, strict=True):
            assert _without_instance_ids(ours) == _without_instance_ids(theirs)


def test_every_stability_result_equals_the_sample(
    learned: dict[str, StabilityWindow], sample_state: dict[str, Any]
) -> None:
    for key, window in learned.items():
        expected = sample_state[f"acg_stability:{key}"]
        assert window.profile_result(key).to_wire() == expected
        assert analyze_profile_stability(window.observations, key).to_wire() == expected


def test_the_agent_level_copy_is_the_tool_profile(
    learned: dict[str, StabilityWindow], sample_state: dict[str, Any]
) -> None:
    # The learner re-stores the best profile under the plain agent id; in the
    # sample that is the gpt-x profile (longest stable prefix), fingerprint included.
    best = max(
        learned.items(), key=lambda item: (item[1].result().stable_prefix_length, len(item[1]))
    )
    key, window = best
    assert window.profile_result(key).to_wire() == sample_state[f"acg_stability:{AGENT_ID}"]
    assert [_without_instance_ids(o.to_wire()) for o in window] == [
        _without_instance_ids(o) for o in sample_state[f"acg_observations:{AGENT_ID}"]
    ]


def test_stored_observations_round_trip_byte_for_byte(sample_state: dict[str, Any]) -> None:
    for key in _profile_keys(sample_state, "acg_observations"):
        for stored in sample_state[f"acg_observations:{key}"]:
            assert PromptIR.model_validate(stored).to_wire() == stored


def test_a_window_loaded_from_storage_continues_like_the_sample(
    sample_requests: list[dict[str, Any]], sample_state: dict[str, Any]
) -> None:
    # Learning in two halves, the second resuming from the stored window, must
    # end where learning in one pass ended.
    half = len(sample_requests) // 2
    first = _learned_windows(sample_requests[:half])
    resumed = {
        key: StabilityWindow(WINDOW, observations=[_reloaded(o) for o in window])
        for key, window in first.items()
    }
    for request in sample_requests[half:]:
        key = derive_learning_key(AGENT_ID, request)
        resumed.setdefault(key, StabilityWindow(WINDOW)).append(build_prompt_ir(request))
    for key, window in resumed.items():
        assert window.profile_result(key).to_wire() == sample_state[f"acg_stability:{key}"]
