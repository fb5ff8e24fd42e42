"""Agent hints on LLM requests: what the trie predicts about the call about to be made.

An inference server (e.g. NVIDIA Dynamo) schedules better when it knows how
many tokens a request will produce, how soon the agent's next request comes
and how latency-sensitive the caller is. The hints come from the prediction
trie in the hot cache: the deepest node on the call's path with a prediction
for this call index (else that node's all-index prediction), else the agent's
default hints. A manual override set on a scope raises latency sensitivity
(the highest value on the scope stack wins; it never lowers a learned one).

Two lookups (``adaptive_hints.lookup``). ``call_site`` (ours, the default
of our own configuration): the lookup path is the path the latency learner
records for the call (the LLM call's name), so the learned per-call
predictions are found, and the call index counts this call name within the
run, as the learner counts it. ``relay`` (the default of a ``plugins.toml``
component): NeMo Relay 0.10.4's own, the agent/function scope names on the
stack (which its trie never contains, so it falls back to the root) and one
call counter per runtime; a drop-in replacement of NeMo Relay's component
sends exactly the hints NeMo Relay would.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adaptive.config import AdaptiveHintsConfig
from adaptive.hot_cache import HotCache
from adaptive.plan import AgentHints
from adaptive.trie.hints import UNLEARNED_SENSITIVITY, prediction_hints
from adaptive.trie.lookup import find_prediction
from adaptive.trie.models import LlmCallPrediction

MAX_TRACKED_RUNS = 10_000
"""Runs whose LLM call counts are kept; the oldest is dropped beyond this."""


def hints_from_prediction(
    prediction: LlmCallPrediction,
    *,
    agent_id: str,
    call_index: int,
    scope_depth: int,
    scale: int,
) -> AgentHints:
    """Hints for one call; an unlearned sensitivity reads as 1, as NeMo Relay's do."""
    return prediction_hints(
        prediction,
        scale=scale,
        prefix_id=f"{agent_id}-d{scope_depth}",
        call_index=call_index,
        unlearned_sensitivity=float(UNLEARNED_SENSITIVITY),
    )


def with_manual_override(
    hints: AgentHints | None,
    manual: int | None,
    *,
    agent_id: str,
    scope_depth: int,
    scale: int,
) -> AgentHints | None:
    """Apply a manual latency sensitivity: it only ever raises the learned one."""
    if manual is None:
        return hints
    if hints is None:
        return AgentHints(
            osl=0,
            iat=0,
            priority=max(scale - manual, 0),
            latency_sensitivity=float(manual),
            prefix_id=f"{agent_id}-d{scope_depth}",
            total_requests=0,
        )
    if manual <= hints.latency_sensitivity:
        return hints
    return hints.model_copy(
        update={"latency_sensitivity": float(manual), "priority": max(scale - manual, 0)}
    )


@dataclass(frozen=True, slots=True)
class LlmCallSite:
    """Where an LLM request is made, as far as hint lookup cares."""

    path: Sequence[str]
    call_index: int
    agent_id: str
    scope_depth: int = 1
    manual_sensitivity: int | None = None


class AgentHintsInjector:
    """Looks hints up in the hot cache and writes them into a request.

    ``header_name`` (default NeMo Relay 0.10's ``x-nemo-relay-adaptive-agent-hints``),
    ``inject_header``, ``inject_body_path`` (default ``nvext.agent_hints``,
    dotted) and ``lookup`` come from ``adaptive_hints`` in the config. (NeMo
    Relay 0.10.4 documents ``inject_header`` and ``inject_body_path`` but
    always injects both, at the default places; we honour them.)
    """

    def __init__(
        self,
        hot_cache: HotCache,
        settings: AdaptiveHintsConfig | None = None,
        *,
        scale: int = 5,
    ) -> None:
        self.hot_cache = hot_cache
        self.settings = settings if settings is not None else AdaptiveHintsConfig()
        self.scale = scale
        self.body_path = tuple(part for part in self.settings.inject_body_path.split(".") if part)
        self._call_counts: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._relay_calls = itertools.count(1)

    def next_relay_call_index(self) -> int:
        """NeMo Relay's call index: one counter per runtime, 1 for its first LLM request."""
        return next(self._relay_calls)

    def next_call_index(self, run_key: str, call_name: str) -> int:
        """1-based count of ``call_name`` within a run, as the latency learner counts."""
        runs = self._call_counts
        counts = runs.get(run_key)
        if counts is None:
            counts = runs[run_key] = {}
            if len(runs) > MAX_TRACKED_RUNS:
                runs.popitem(last=False)
        index = counts.get(call_name, 0) + 1
        counts[call_name] = index
        return index

    def forget_run(self, run_key: str) -> None:
        """Drop a finished run's call counts."""
        self._call_counts.pop(run_key, None)

    def hints_for(self, site: LlmCallSite) -> AgentHints | None:
        cache = self.hot_cache
        trie = cache.trie
        prediction = find_prediction(trie, site.path, site.call_index) if trie is not None else None
        if prediction is not None:
            hints: AgentHints | None = hints_from_prediction(
                prediction,
                agent_id=site.agent_id,
                call_index=site.call_index,
                scope_depth=site.scope_depth,
                scale=self.scale,
            )
        else:
            hints = cache.agent_hints_default
        return with_manual_override(
            hints,
            site.manual_sensitivity,
            agent_id=site.agent_id,
            scope_depth=site.scope_depth,
            scale=self.scale,
        )

    def inject(
        self, headers: Mapping[str, Any], body: Mapping[str, Any] | None, hints: AgentHints
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """New headers and body carrying ``hints``; the inputs are not modified."""
        serialized = hints.model_dump(mode="json")
        new_headers = dict(headers)
        if self.settings.inject_header:
            new_headers[self.settings.header_name] = serialized
        if body is None or not self.body_path:
            return new_headers, None if body is None else dict(body)
        return new_headers, with_value_at(body, self.body_path, serialized)


def with_value_at(body: Mapping[str, Any], path: Sequence[str], value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at ``path``, copying only the objects on the path.

    Missing objects on the path are created; a non-object already on the path
    is the application's and is left alone (no hints in the body), as NeMo
    Relay leaves a non-object ``nvext`` alone.
    """
    head, *rest = path
    copy = dict(body)
    if not rest:
        copy[head] = value
        return copy
    child = copy.get(head, {})
    if isinstance(child, Mapping):
        copy[head] = with_value_at(child, rest, value)
    return copy
