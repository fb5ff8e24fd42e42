"""Read-only views of stored runs and learned state, for operators.

Everything here goes through the ``StorageBackend`` protocol, so the same
``adaptive runs``/``plan``/``hints`` commands and the demo work on SQLite,
PostgreSQL, Redis and tiered backends alike. Views are flat rows (see
``adaptive.cli.tabular``) so each prints as a table, JSON or CSV.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from adaptive.acg import StabilityAnalysisResult, StabilityClass
from adaptive.config import BackendSpec
from adaptive.errors import AdaptiveError, quoted
from adaptive.intercepts.warm_first import WarmFirstVerdict, warm_first_verdict
from adaptive.plan import AgentHints, ExecutionPlan
from adaptive.records import CallKind, RunRecord
from adaptive.storage.factory import create_backend
from adaptive.storage.protocol import StorageBackend
from adaptive.timestamps import millis_between, to_datetime
from adaptive.trie import (
    LlmCallPrediction,
    PredictionTrieNode,
    compute_default_hints,
    find_prediction,
)
from adaptive.trie.lookup import prediction_at

PATH_SEPARATOR = "/"
"""Joins scope names into the path ``hints show --path`` takes and prints."""
SHORT_HASH = 8


class NotFoundError(AdaptiveError):
    """What the operator asked for is not stored in the backend."""


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class RunSummary(_Row):
    """One run in ``adaptive runs list``.

    Durations here, in ``CallRow`` and in analytics are the same number:
    milliseconds to the microsecond (``millis_between``), as SQL storage keeps them.
    """

    run_id: UUID
    started_at: datetime
    duration_ms: float | None
    status: str
    llm_calls: int
    tool_calls: int
    prompt_tokens: int
    output_tokens: int


class CallRow(_Row):
    """One call of a run in ``adaptive runs show``; times are relative to the run's start."""

    position: int
    kind: str
    name: str
    start_ms: float
    duration_ms: float | None
    model: str | None
    prompt_tokens: int | None
    output_tokens: int | None
    tool_calls: int | None


class ParallelGroupRow(_Row):
    """One learned fan-out: tools seen running at the same time."""

    group_id: str
    size: int
    tools: str


class WarmFirstRow(_Row):
    """Whether warm-first scheduling (schedule mode) gates a learned group, and why (not)."""

    group_id: str
    tools: str
    warm_first: str
    why: str


class PredictionRow(_Row):
    """A trie prediction: what to expect from an LLM call at a scope path and call index."""

    path: str
    call_index: str
    samples: int
    remaining_calls: float
    interarrival_ms: float
    output_tokens_p50: float
    output_tokens_p90: float
    latency_sensitivity: int | None


class ProfileStabilityRow(_Row):
    """How much of a prompt profile's prefix is stable enough to cache.

    A profile is the requests that share model, system prompt and tools (the
    ACG learning key); ``best`` marks the one the learner also stores as the
    agent's aggregate, which the hot path reads.
    """

    model: str
    system: str
    tools: str
    best: bool
    stable_prefix_length: int
    observations: int
    stable_blocks: int
    semi_stable_blocks: int
    variable_blocks: int


@asynccontextmanager
async def opened_backend(spec: BackendSpec) -> AsyncIterator[StorageBackend]:
    """The backend a spec names, open for the duration of the block."""
    backend = create_backend(spec)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


async def resolve_agent(backend: StorageBackend, agent_id: str | None) -> str:
    """The agent to show: the one asked for, else the only one stored.

    An operator rarely remembers agent ids exactly, so a miss lists what is stored.
    """
    agents = await backend.list_agents()
    if agent_id is not None and agent_id in agents:
        return agent_id
    known = agent_list(agents)
    if agent_id is not None:
        raise NotFoundError(
            f"no runs or state stored for agent {quoted(agent_id)}; stored agents: {known}"
        )
    if len(agents) == 1:
        return agents[0]
    if not agents:
        raise NotFoundError(
            "the backend holds no agents yet; ingest a trace first (adaptive ingest)"
        )
    raise NotFoundError(f"several agents are stored ({known}); choose one with --agent-id")


MAX_AGENTS_LISTED = 10


def agent_list(agents: list[str]) -> str:
    """Stored agents for an error line: quoted, cut, and at most ``MAX_AGENTS_LISTED``."""
    if not agents:
        return "none"
    names = sorted(agents)
    shown = ", ".join(quoted(name, 40) for name in names[:MAX_AGENTS_LISTED])
    more = len(names) - MAX_AGENTS_LISTED
    return shown + (f" and {more:,} more" if more > 0 else "")


def summarize_run(run: RunRecord) -> RunSummary:
    llm = [call for call in run.calls if call.kind is CallKind.LLM]
    return RunSummary(
        run_id=run.id,
        started_at=to_datetime(run.started_at),
        duration_ms=None if run.ended_at is None else millis_between(run.started_at, run.ended_at),
        status="open" if run.ended_at is None else "completed",
        llm_calls=len(llm),
        tool_calls=len(run.calls) - len(llm),
        prompt_tokens=sum(call.prompt_tokens or 0 for call in llm),
        output_tokens=sum(call.output_tokens or 0 for call in llm),
    )


async def recent_runs(backend: StorageBackend, agent_id: str, limit: int) -> list[RunSummary]:
    """The agent's newest ``limit`` runs in storage order, oldest of them first."""
    run_ids = await backend.list_run_ids(agent_id)
    newest = run_ids[-limit:] if limit > 0 else []
    return [summarize_run(run) for run in await backend.load_runs(agent_id, newest)]


async def find_run(backend: StorageBackend, run_id: UUID, agent_id: str | None) -> RunRecord:
    """A run by id, looked up under one agent or, without one, under every stored agent."""
    agents = [agent_id] if agent_id is not None else await backend.list_agents()
    for agent in agents:
        found = await backend.load_runs(agent, [run_id])
        if found:
            return found[0]
    where = f"agent {agent_id!r}" if agent_id is not None else "any stored agent"
    raise NotFoundError(
        f"run {run_id} is not stored for {where}; list runs with adaptive runs list"
    )


def call_rows(run: RunRecord) -> list[CallRow]:
    return [
        CallRow(
            position=position,
            kind=call.kind.value,
            name=call.name,
            start_ms=millis_between(run.started_at, call.started_at),
            duration_ms=None
            if call.ended_at is None
            else millis_between(call.started_at, call.ended_at),
            model=call.model_name,
            prompt_tokens=call.prompt_tokens,
            output_tokens=call.output_tokens,
            tool_calls=call.tool_call_count,
        )
        for position, call in enumerate(run.calls)
    ]


def plan_groups(plan: ExecutionPlan) -> list[ParallelGroupRow]:
    return [
        ParallelGroupRow(
            group_id=group.group_id, size=len(group.tool_names), tools=", ".join(group.tool_names)
        )
        for group in plan.parallel_groups
    ]


def warm_first_verdicts(
    plan: ExecutionPlan, stability: StabilityAnalysisResult | None
) -> list[WarmFirstVerdict]:
    """The warm-first rule applied to each learned group, on the stored ACG aggregate.

    The aggregate is what seeds a runtime's hot cache, so this is what a
    runtime started on this backend decides.
    """
    observations = stability.total_observations if stability is not None else 0
    return [warm_first_verdict(group, stability, observations) for group in plan.parallel_groups]


def warm_first_rows(verdicts: list[WarmFirstVerdict]) -> list[WarmFirstRow]:
    return [
        WarmFirstRow(
            group_id=verdict.group_id,
            tools=", ".join(verdict.tool_names),
            warm_first="gated" if verdict.gated else "not gated",
            why=verdict.reason,
        )
        for verdict in verdicts
    ]


def verdict_json(verdict: WarmFirstVerdict) -> dict[str, Any]:
    eligibility = verdict.eligibility
    return {
        "group_id": verdict.group_id,
        "tool_names": list(verdict.tool_names),
        "gated": verdict.gated,
        "reason": verdict.reason,
        "stable_prefix_length": verdict.stable_prefix_length,
        "observations": verdict.observations,
        "benefit_units": None if eligibility is None else eligibility.expected_benefit_units,
        "cost_units": None if eligibility is None else eligibility.coordination_cost_units,
    }


def parse_path(text: str) -> list[str]:
    """Scope names from ``a/b/c``; empty parts (``/``, ``a//b``) are dropped."""
    return [name for name in text.split(PATH_SEPARATOR) if name]


def prediction_row(path: str, call_index: str, prediction: LlmCallPrediction) -> PredictionRow:
    return PredictionRow(
        path=path,
        call_index=call_index,
        samples=prediction.output_tokens.sample_count,
        remaining_calls=prediction.remaining_calls.mean,
        interarrival_ms=prediction.interarrival_ms.mean,
        output_tokens_p50=prediction.output_tokens.p50,
        output_tokens_p90=prediction.output_tokens.p90,
        latency_sensitivity=prediction.latency_sensitivity,
    )


def trie_predictions(root: PredictionTrieNode) -> list[PredictionRow]:
    """Every prediction in the trie, root first, each node's call indexes in order."""
    return list(_node_predictions(root, []))


def _node_predictions(node: PredictionTrieNode, path: list[str]) -> Iterator[PredictionRow]:
    shown = PATH_SEPARATOR + PATH_SEPARATOR.join(path)
    for index in sorted(node.predictions_by_call_index):
        yield prediction_row(shown, str(index), node.predictions_by_call_index[index])
    if node.predictions_any_index is not None:
        yield prediction_row(shown, "any", node.predictions_any_index)
    for name in sorted(node.children):
        yield from _node_predictions(node.children[name], [*path, name])


@dataclass(frozen=True)
class TrieLookup:
    """The prediction the trie gives an LLM call at a scope path and call index."""

    path: str
    call_index: int
    prediction: PredictionRow | None
    """``None`` when nothing on the path (not even the root) has a prediction."""


@dataclass(frozen=True)
class HintsView:
    """What ``adaptive hints show`` prints: default hints, all predictions, one lookup."""

    agent_id: str
    default_hints: AgentHints | None
    predictions: list[PredictionRow]
    lookup: TrieLookup | None

    def to_json(self) -> dict[str, Any]:
        lookup = self.lookup
        return {
            "agent_id": self.agent_id,
            "default_hints": None if self.default_hints is None else self.default_hints.to_wire(),
            "predictions": [row.model_dump(mode="json") for row in self.predictions],
            "lookup": None
            if lookup is None
            else {
                "path": lookup.path,
                "call_index": lookup.call_index,
                "prediction": None
                if lookup.prediction is None
                else lookup.prediction.model_dump(mode="json"),
            },
        }


def hints_view(
    agent_id: str,
    root: PredictionTrieNode | None,
    sensitivity_scale: int,
    path: str | None = None,
    call_index: int | None = None,
) -> HintsView:
    """The hints an agent gets; a lookup only when a path or call index is asked for."""
    lookup = None
    if path is not None or call_index is not None:
        lookup = trie_lookup(root, path or "", call_index or 1)
    if root is None:
        return HintsView(agent_id, None, [], lookup)
    defaults = compute_default_hints(root, sensitivity_scale)
    return HintsView(agent_id, defaults, trie_predictions(root), lookup)


def trie_lookup(root: PredictionTrieNode | None, path: str, call_index: int) -> TrieLookup:
    """What the hot path finds for a call: the deepest node on the path with a prediction.

    The row names the node the prediction came from, which is shallower than
    the path asked for when the trie has not learned the whole path.
    """
    names = parse_path(path)
    asked = PATH_SEPARATOR + PATH_SEPARATOR.join(names)
    found = None if root is None else find_prediction(root, names, call_index)
    if root is None or found is None:
        return TrieLookup(asked, call_index, None)
    depth, node = _source_of(root, names, call_index, found)
    index = str(call_index) if call_index in node.predictions_by_call_index else "any"
    source = PATH_SEPARATOR + PATH_SEPARATOR.join(names[:depth])
    return TrieLookup(asked, call_index, prediction_row(source, index, found))


def _source_of(
    root: PredictionTrieNode, names: list[str], call_index: int, found: LlmCallPrediction
) -> tuple[int, PredictionTrieNode]:
    """The deepest node along ``names`` whose prediction for the index is ``found``."""
    source, node = (0, root), root
    for depth, name in enumerate(names, start=1):
        child = node.children.get(name)
        if child is None:
            break
        node = child
        if prediction_at(node, call_index) is found:
            source = (depth, node)
    return source


async def profile_stability(backend: StorageBackend, agent_id: str) -> list[ProfileStabilityRow]:
    """ACG stability of each prompt profile of the agent, by learning key.

    The aggregate the learner stores under the plain agent id repeats the best
    profile, so it only marks that profile; it gets a row of its own only when
    no stored profile matches it (a window evicted, or written by another tool).
    """
    aggregate = await backend.load_stability(agent_id)
    rows = []
    for key in sorted(await backend.list_acg_keys(agent_id)):
        result = await backend.load_stability(key)
        if key != agent_id and result is not None:
            rows.append(_stability_row(_key_parts(agent_id, key), result, result == aggregate))
    if aggregate is not None and not any(row.best for row in rows):
        rows.append(_stability_row({"model": "(aggregate)"}, aggregate, True))
    return rows


def _stability_row(
    parts: dict[str, str], result: StabilityAnalysisResult, best: bool
) -> ProfileStabilityRow:
    classes = [score.classification for score in result.scores]
    return ProfileStabilityRow(
        model=parts.get("model", "-"),
        system=_short(parts.get("system", "-")),
        tools=_short(parts.get("tools", "-")),
        best=best,
        stable_prefix_length=result.stable_prefix_length,
        observations=result.total_observations,
        stable_blocks=classes.count(StabilityClass.STABLE),
        semi_stable_blocks=classes.count(StabilityClass.SEMI_STABLE),
        variable_blocks=classes.count(StabilityClass.VARIABLE),
    )


def _key_parts(agent_id: str, key: str) -> dict[str, str]:
    """``model``, ``system``, ... of a learning key ``{agent}::model=…::system=…``."""
    rest = key[len(agent_id) + 2 :] if key.startswith(f"{agent_id}::") else ""
    pairs = (part.partition("=") for part in rest.split("::") if "=" in part)
    return {name: value for name, _, value in pairs}


def _short(fingerprint: str) -> str:
    """``ae8e8b2d`` for ``sha256:ae8e8b2d…``: enough to tell profiles apart; labels unchanged."""
    prefix, _, digest = fingerprint.rpartition(":")
    return digest[:SHORT_HASH] if prefix else fingerprint
