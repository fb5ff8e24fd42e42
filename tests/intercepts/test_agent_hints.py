"""Agent hints: trie lookup with fallbacks, manual overrides, injection and call counting."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from adaptive.config import AdaptiveHintsConfig
from adaptive.hot_cache import HotCache
from adaptive.intercepts import agent_hints
from adaptive.intercepts.agent_hints import AgentHintsInjector, LlmCallSite
from adaptive.plan import AgentHints
from adaptive.trie import LlmCallPrediction, PredictionTrieNode
from adaptive.trie.models import PredictionMetrics

DEFAULT_HEADER = "x-nemo-relay-adaptive-agent-hints"


def prediction(
    *,
    osl_p90: float,
    iat_mean: float,
    remaining_mean: float,
    sensitivity: int | None,
) -> LlmCallPrediction:
    """A prediction whose unused statistics are decoys (so the wrong one shows up)."""
    return LlmCallPrediction(
        output_tokens=PredictionMetrics(
            sample_count=10, mean=999.0, p50=888.0, p90=osl_p90, p95=777.0
        ),
        interarrival_ms=PredictionMetrics(
            sample_count=10, mean=iat_mean, p50=666.0, p90=555.0, p95=444.0
        ),
        remaining_calls=PredictionMetrics(
            sample_count=10, mean=remaining_mean, p50=33.0, p90=44.0, p95=55.0
        ),
        latency_sensitivity=sensitivity,
    )


# Every prediction is told apart by its output-token p90 (the osl it yields).
ROOT_ANY = prediction(osl_p90=10.0, iat_mean=1.0, remaining_mean=1.0, sensitivity=1)
ROOT_1 = prediction(osl_p90=11.0, iat_mean=1.0, remaining_mean=1.0, sensitivity=1)
AGENT_ANY = prediction(osl_p90=20.0, iat_mean=2.0, remaining_mean=2.0, sensitivity=2)
AGENT_1 = prediction(osl_p90=21.0, iat_mean=2.0, remaining_mean=2.0, sensitivity=2)
LLM_ANY = prediction(osl_p90=30.0, iat_mean=3.0, remaining_mean=3.0, sensitivity=3)
LLM_2 = prediction(osl_p90=182.5, iat_mean=6.5, remaining_mean=2.5, sensitivity=2)


def learned_trie() -> PredictionTrieNode:
    """root -> agent -> llm (and root -> bare, agent -> quiet, neither with predictions)."""
    llm = PredictionTrieNode(
        name="llm", predictions_by_call_index={2: LLM_2}, predictions_any_index=LLM_ANY
    )
    quiet = PredictionTrieNode(name="quiet")
    agent = PredictionTrieNode(
        name="agent",
        children={"llm": llm, "quiet": quiet},
        predictions_by_call_index={1: AGENT_1},
        predictions_any_index=AGENT_ANY,
    )
    bare = PredictionTrieNode(name="bare")
    return PredictionTrieNode(
        name="root",
        children={"agent": agent, "bare": bare},
        predictions_by_call_index={1: ROOT_1},
        predictions_any_index=ROOT_ANY,
    )


DEFAULT_HINTS = AgentHints(
    osl=64, iat=12, priority=3, latency_sensitivity=2.0, prefix_id="planner-d1", total_requests=4
)


def injector(
    *,
    trie: PredictionTrieNode | None = None,
    default: AgentHints | None = None,
    settings: AdaptiveHintsConfig | None = None,
    scale: int = 5,
) -> AgentHintsInjector:
    return AgentHintsInjector(
        HotCache(trie=trie, agent_hints_default=default), settings, scale=scale
    )


def site(
    path: tuple[str, ...],
    call_index: int,
    *,
    agent: str = "planner",
    depth: int = 1,
    manual: int | None = None,
) -> LlmCallSite:
    return LlmCallSite(
        path=path,
        call_index=call_index,
        agent_id=agent,
        scope_depth=depth,
        manual_sensitivity=manual,
    )


def hints_for(found: AgentHintsInjector, call_site: LlmCallSite) -> AgentHints:
    hints = found.hints_for(call_site)
    assert hints is not None
    return hints


# -- lookup and fallbacks ------------------------------------------------------------------


def test_exact_call_index_at_the_deepest_node() -> None:
    hints = hints_for(injector(trie=learned_trie()), site(("agent", "llm"), 2, depth=3))
    # p90 182.5 -> 183, mean 6.5 -> 7, remaining 2.5 -> 3 (+ call index 2): halves away from 0
    assert hints == AgentHints(
        osl=183,
        iat=7,
        priority=5 - 2,
        latency_sensitivity=2.0,
        prefix_id="planner-d3",
        total_requests=3 + 2,
    )


def test_any_index_at_the_deepest_node_when_the_index_is_missing() -> None:
    hints = hints_for(injector(trie=learned_trie()), site(("agent", "llm"), 7))
    assert hints == AgentHints(
        osl=30,
        iat=3,
        priority=5 - 3,
        latency_sensitivity=3.0,
        prefix_id="planner-d1",
        total_requests=3 + 7,
    )


def test_exact_index_at_a_shallower_node_loses_to_any_index_at_the_deepest() -> None:
    # agent has index 1, llm only any-index: the deepest node wins
    assert hints_for(injector(trie=learned_trie()), site(("agent", "llm"), 1)).osl == 30


def test_deepest_ancestor_when_the_path_diverges() -> None:
    found = injector(trie=learned_trie())
    assert hints_for(found, site(("agent", "elsewhere"), 1)).osl == 21  # agent, index 1
    assert hints_for(found, site(("agent", "elsewhere"), 5)).osl == 20  # agent, any index
    # the walk stops at the divergence: a known name further down is not looked up
    assert hints_for(found, site(("agent", "elsewhere", "llm"), 2)).osl == 20  # not llm's 183
    # a node on the path without predictions does not hide its ancestor's
    assert hints_for(found, site(("agent", "quiet"), 1)).osl == 21


def test_root_prediction() -> None:
    found = injector(trie=learned_trie())
    assert hints_for(found, site(("unknown",), 1)).osl == 11  # root, index 1
    assert hints_for(found, site(("unknown",), 9)).osl == 10  # root, any index
    assert hints_for(found, site((), 9)).osl == 10
    assert hints_for(found, site(("bare",), 9)).osl == 10  # a child without predictions


def test_no_prediction_anywhere_falls_back_to_the_default_hints() -> None:
    empty = PredictionTrieNode(name="root", children={"agent": PredictionTrieNode(name="agent")})
    found = injector(trie=empty, default=DEFAULT_HINTS)
    assert found.hints_for(site(("agent",), 1)) == DEFAULT_HINTS
    assert found.hints_for(site(("other",), 3)) == DEFAULT_HINTS


def test_no_trie_falls_back_to_the_default_hints() -> None:
    assert injector(default=DEFAULT_HINTS).hints_for(site(("agent", "llm"), 2)) == DEFAULT_HINTS


def test_nothing_learned_means_no_hints() -> None:
    assert injector().hints_for(site(("agent", "llm"), 2)) is None
    assert injector(trie=PredictionTrieNode(name="root")).hints_for(site(("x",), 1)) is None


def test_hints_follow_the_hot_cache_as_it_is_replaced() -> None:
    found = injector()
    assert found.hints_for(site(("agent", "llm"), 2)) is None
    found.hot_cache.agent_hints_default = DEFAULT_HINTS
    assert found.hints_for(site(("agent", "llm"), 2)) == DEFAULT_HINTS
    found.hot_cache.trie = learned_trie()
    assert hints_for(found, site(("agent", "llm"), 2)).osl == 183


# -- fields computed from a prediction --------------------------------------------------------


@pytest.mark.parametrize(
    ("osl_p90", "iat_mean", "remaining_mean", "call_index", "osl", "iat", "total"),
    [
        (0.5, 0.5, 0.5, 1, 1, 1, 1 + 1),  # Python's round() would give 0, 0, 0
        (2.5, 4.5, 6.5, 3, 3, 5, 7 + 3),  # ... and 2, 4, 6
        (99.4, 12.49, 1.4999, 2, 99, 12, 1 + 2),
        (99.6, 12.51, 1.5001, 2, 100, 13, 2 + 2),
        (0.0, 0.0, 0.0, 4, 0, 0, 0 + 4),
        (-3.0, -7.5, -2.0, 1, 0, 0, 0 + 1),  # negative statistics saturate at 0 (as u32)
    ],
)
def test_numbers_round_half_away_from_zero(
    osl_p90: float,
    iat_mean: float,
    remaining_mean: float,
    call_index: int,
    osl: int,
    iat: int,
    total: int,
) -> None:
    only = PredictionTrieNode(
        name="root",
        predictions_any_index=prediction(
            osl_p90=osl_p90, iat_mean=iat_mean, remaining_mean=remaining_mean, sensitivity=4
        ),
    )
    hints = hints_for(injector(trie=only), site(("llm",), call_index))
    assert (hints.osl, hints.iat, hints.total_requests) == (osl, iat, total)


def test_unlearned_sensitivity_counts_as_one() -> None:
    only = PredictionTrieNode(
        name="root",
        predictions_any_index=prediction(
            osl_p90=1.0, iat_mean=1.0, remaining_mean=0.0, sensitivity=None
        ),
    )
    hints = hints_for(injector(trie=only), site((), 1))
    assert (hints.latency_sensitivity, hints.priority) == (1.0, 5 - 1)


@pytest.mark.parametrize(
    ("sensitivity", "scale", "priority"),
    [(1, 5, 4), (5, 5, 0), (7, 5, 0), (3, 10, 7), (0, 5, 5)],
)
def test_priority_is_scale_minus_sensitivity_never_below_zero(
    sensitivity: int, scale: int, priority: int
) -> None:
    only = PredictionTrieNode(
        name="root",
        predictions_any_index=prediction(
            osl_p90=1.0, iat_mean=1.0, remaining_mean=0.0, sensitivity=sensitivity
        ),
    )
    hints = hints_for(injector(trie=only, scale=scale), site((), 1))
    assert hints.priority == priority
    assert hints.latency_sensitivity == float(sensitivity)
    assert isinstance(hints.latency_sensitivity, float)


def test_prefix_id_names_the_agent_and_the_scope_depth() -> None:
    found = injector(trie=learned_trie())
    assert hints_for(found, site((), 1, agent="researcher", depth=0)).prefix_id == "researcher-d0"
    assert hints_for(found, site((), 1, agent="researcher", depth=4)).prefix_id == "researcher-d4"


# -- manual latency sensitivity --------------------------------------------------------------


def test_manual_override_raises_a_lower_learned_sensitivity() -> None:
    found = injector(trie=learned_trie())
    hints = hints_for(found, site(("agent", "llm"), 2, depth=3, manual=4))
    assert hints == AgentHints(
        osl=183,
        iat=7,
        priority=5 - 4,
        latency_sensitivity=4.0,
        prefix_id="planner-d3",
        total_requests=5,
    )


def test_manual_override_never_lowers_a_higher_sensitivity() -> None:
    found = injector(trie=learned_trie())
    learned = hints_for(found, site(("agent", "llm"), 7))  # sensitivity 3, priority 2
    for manual in (0, 1, 2):
        assert hints_for(found, site(("agent", "llm"), 7, manual=manual)) == learned
    assert (learned.latency_sensitivity, learned.priority) == (3.0, 2)


def test_manual_override_equal_to_the_learned_one_changes_nothing() -> None:
    found = injector(trie=learned_trie())
    learned = hints_for(found, site(("agent", "llm"), 7))
    assert hints_for(found, site(("agent", "llm"), 7, manual=3)) == learned


def test_manual_override_above_the_scale_gives_priority_zero() -> None:
    hints = hints_for(injector(trie=learned_trie()), site(("agent", "llm"), 7, manual=9))
    assert (hints.latency_sensitivity, hints.priority) == (9.0, 0)


def test_manual_override_applies_to_the_default_hints_without_changing_them() -> None:
    default = DEFAULT_HINTS.model_copy()
    found = injector(default=default)
    hints = hints_for(found, site(("agent",), 1, manual=4))
    assert hints == AgentHints(
        osl=64,
        iat=12,
        priority=1,
        latency_sensitivity=4.0,
        prefix_id="planner-d1",
        total_requests=4,
    )
    assert found.hot_cache.agent_hints_default == DEFAULT_HINTS  # not modified in place
    assert found.hints_for(site(("agent",), 1)) == DEFAULT_HINTS


def test_manual_override_with_no_hints_at_all_gives_manual_only_hints() -> None:
    hints = injector().hints_for(site(("agent",), 3, agent="writer", depth=2, manual=3))
    assert hints == AgentHints(
        osl=0,
        iat=0,
        priority=5 - 3,
        latency_sensitivity=3.0,
        prefix_id="writer-d2",
        total_requests=0,
    )
    zero = injector(scale=8).hints_for(site((), 1, agent="w", depth=0, manual=0))
    assert zero == AgentHints(
        osl=0, iat=0, priority=8, latency_sensitivity=0.0, prefix_id="w-d0", total_requests=0
    )


# -- injection into a request ------------------------------------------------------------------

HINTS = AgentHints(
    osl=183, iat=7, priority=3, latency_sensitivity=2.0, prefix_id="planner-d3", total_requests=5
)
HINTS_JSON = {
    "osl": 183,
    "iat": 7,
    "priority": 3,
    "latency_sensitivity": 2.0,
    "prefix_id": "planner-d3",
    "total_requests": 5,
}


def test_inject_puts_the_hints_in_the_default_header_and_body_path() -> None:
    headers = {"authorization": "Bearer t"}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    new_headers, new_body = injector().inject(headers, body, HINTS)
    assert new_headers == {"authorization": "Bearer t", DEFAULT_HEADER: HINTS_JSON}
    assert new_body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "nvext": {"agent_hints": HINTS_JSON},
    }


def test_inject_uses_a_configured_header_name() -> None:
    found = injector(settings=AdaptiveHintsConfig(header_name="x-nemo-relay-adaptive-agent-hints"))
    new_headers, _ = found.inject({"a": "1"}, None, HINTS)
    assert new_headers == {"a": "1", "x-nemo-relay-adaptive-agent-hints": HINTS_JSON}


def test_inject_header_false_leaves_the_headers_alone() -> None:
    found = injector(settings=AdaptiveHintsConfig(inject_header=False))
    headers = {"a": "1"}
    new_headers, new_body = found.inject(headers, {}, HINTS)
    assert new_headers == {"a": "1"}
    assert new_headers is not headers
    assert new_body == {"nvext": {"agent_hints": HINTS_JSON}}


def test_inject_at_a_custom_deeper_body_path() -> None:
    found = injector(settings=AdaptiveHintsConfig(inject_body_path="ext.dynamo.agent_hints"))
    body = {"ext": {"keep": 1}, "other": True}
    _, new_body = found.inject({}, body, HINTS)
    assert new_body == {
        "ext": {"keep": 1, "dynamo": {"agent_hints": HINTS_JSON}},
        "other": True,
    }
    _, from_nothing = found.inject({}, {}, HINTS)
    assert from_nothing == {"ext": {"dynamo": {"agent_hints": HINTS_JSON}}}


def test_empty_segments_of_the_body_path_are_ignored() -> None:
    found = injector(settings=AdaptiveHintsConfig(inject_body_path=".nvext..hints."))
    assert found.body_path == ("nvext", "hints")
    _, new_body = found.inject({}, {}, HINTS)
    assert new_body == {"nvext": {"hints": HINTS_JSON}}


def test_an_empty_body_path_injects_only_the_header() -> None:
    found = injector(settings=AdaptiveHintsConfig(inject_body_path=""))
    body = {"model": "m"}
    new_headers, new_body = found.inject({}, body, HINTS)
    assert new_headers == {DEFAULT_HEADER: HINTS_JSON}
    assert new_body == {"model": "m"}
    assert new_body is not body


def test_inject_keeps_the_other_keys_of_nvext() -> None:
    body = {"nvext": {"priority": 7, "agent_hints": "stale"}, "model": "m"}
    _, new_body = injector().inject({}, body, HINTS)
    assert new_body == {"nvext": {"priority": 7, "agent_hints": HINTS_JSON}, "model": "m"}


@pytest.mark.parametrize("nvext", ["raw", 5, None, ["agent_hints"]])
def test_a_non_object_nvext_is_left_untouched(nvext: Any) -> None:
    body = {"nvext": nvext, "model": "m"}
    new_headers, new_body = injector().inject({}, body, HINTS)
    assert new_body == {"nvext": nvext, "model": "m"}
    assert new_headers == {DEFAULT_HEADER: HINTS_JSON}  # the header still carries them


def test_a_non_object_deeper_on_a_custom_path_is_left_untouched() -> None:
    found = injector(settings=AdaptiveHintsConfig(inject_body_path="ext.dynamo.agent_hints"))
    body = {"ext": {"dynamo": "mine", "keep": 1}}
    _, new_body = found.inject({}, body, HINTS)
    assert new_body == {"ext": {"dynamo": "mine", "keep": 1}}


def test_inject_never_modifies_its_inputs() -> None:
    found = injector(settings=AdaptiveHintsConfig(inject_body_path="nvext.deep.agent_hints"))
    headers = {"authorization": "Bearer t"}
    body: dict[str, Any] = {
        "nvext": {"priority": 7, "deep": {"x": 1}},
        "messages": [{"role": "user"}],
    }
    headers_before, body_before = copy.deepcopy(headers), copy.deepcopy(body)
    new_headers, new_body = found.inject(headers, body, HINTS)
    assert headers == headers_before
    assert body == body_before
    assert new_headers == {"authorization": "Bearer t", DEFAULT_HEADER: HINTS_JSON}
    assert new_body is not None
    assert new_body["nvext"] is not body["nvext"]
    assert new_body["nvext"]["deep"] is not body["nvext"]["deep"]
    assert new_body == {
        "nvext": {"priority": 7, "deep": {"x": 1, "agent_hints": HINTS_JSON}},
        "messages": [{"role": "user"}],
    }
    # the injected hints are a fresh object per call, not shared between requests
    _, again = found.inject(headers, body, HINTS)
    assert again is not None
    assert again["nvext"]["deep"]["agent_hints"] is not new_body["nvext"]["deep"]["agent_hints"]


def test_inject_without_a_body() -> None:
    headers = {"a": "1"}
    new_headers, new_body = injector().inject(headers, None, HINTS)
    assert new_body is None
    assert new_headers == {"a": "1", DEFAULT_HEADER: HINTS_JSON}
    assert headers == {"a": "1"}


# -- per-run call counting ------------------------------------------------------------------


def test_call_index_counts_each_call_name_per_run_from_one() -> None:
    found = injector()
    assert [found.next_call_index("run-1", "openai") for _ in range(3)] == [1, 2, 3]
    assert found.next_call_index("run-1", "anthropic") == 1
    assert found.next_call_index("run-2", "openai") == 1
    assert found.next_call_index("run-1", "openai") == 4
    assert found.next_call_index("run-2", "openai") == 2
    assert found.next_call_index("run-1", "anthropic") == 2


def test_forget_run_resets_only_that_run() -> None:
    found = injector()
    found.next_call_index("run-1", "openai")
    found.next_call_index("run-1", "openai")
    found.next_call_index("run-2", "openai")
    found.forget_run("run-1")
    found.forget_run("never-seen")  # no error
    assert found.next_call_index("run-1", "openai") == 1
    assert found.next_call_index("run-2", "openai") == 2


def test_the_oldest_run_is_dropped_beyond_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_hints, "MAX_TRACKED_RUNS", 2)
    found = injector()
    found.next_call_index("run-1", "openai")
    found.next_call_index("run-1", "openai")
    found.next_call_index("run-2", "openai")
    found.next_call_index("run-3", "openai")  # a third run: run-1 goes
    assert found.next_call_index("run-2", "openai") == 2
    assert found.next_call_index("run-3", "openai") == 2
    assert found.next_call_index("run-1", "openai") == 1  # counted anew (and run-2 goes)
    assert found.next_call_index("run-3", "openai") == 3
    assert found.next_call_index("run-2", "openai") == 1


def test_within_the_bound_no_run_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_hints, "MAX_TRACKED_RUNS", 2)
    found = injector()
    found.next_call_index("run-1", "openai")
    found.next_call_index("run-2", "openai")
    assert found.next_call_index("run-1", "openai") == 2
    assert found.next_call_index("run-2", "openai") == 2


def test_call_counts_feed_the_lookup() -> None:
    found = injector(trie=learned_trie())
    first = found.next_call_index("run-1", "llm")
    second = found.next_call_index("run-1", "llm")
    # path ("agent", "llm"): index 1 falls to llm's any-index, index 2 is llm's exact one
    assert hints_for(found, site(("agent", "llm"), first)).osl == 30
    assert hints_for(found, site(("agent", "llm"), second)).osl == 183
