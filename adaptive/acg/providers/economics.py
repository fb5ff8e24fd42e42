"""Where Anthropic cache breakpoints pay for themselves (NeMo Relay's economics planner).

A breakpoint costs a cache write (1.25x the input price for the tokens it
covers beyond the previous one) and saves 0.9x on every expected read. The
expected reads of a prefix are the observed reuse horizon (observations - 1)
times its weakest block signal (stability score x confidence), so a prefix
seen only a few times, or with a shaky block, is not worth caching. Candidate
boundaries are semantic (system prompt, end of a tool cluster, the block
that crosses the model's minimum cacheable size, ...) and a dynamic program
picks the best set of at most ``max_cache_breakpoints`` of them. Float
operations follow the Rust order so ties break identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from adaptive.acg.prompt_ir import BlockContentType, PromptRole, ProvenanceLabel
from adaptive.acg.providers.capabilities import CacheEconomics, ModelFamily
from adaptive.acg.providers.prefix import BlockSpec
from adaptive.acg.stability import BlockStabilityScore, StabilityClass

_U32_MAX = 2**32 - 1
_TIE = 1e-9
_STRUCTURED = frozenset(
    {
        BlockContentType.STRUCTURED_OUTPUT.value,
        BlockContentType.TOOL_RESULT.value,
        BlockContentType.IMAGE.value,
    }
)


class CandidateKind(IntEnum):
    """Boundary kinds; the value is the tie-break priority (higher wins)."""

    GENERIC = 0
    STRUCTURED = 1
    SYSTEM = 2
    TOOL_CLUSTER = 3
    RETRIEVAL = 4
    USER = 5


@dataclass(frozen=True, slots=True)
class Candidate:
    stable_prefix_end: int
    cumulative_tokens: int
    expected_reads: float
    kind: CandidateKind


@dataclass(frozen=True, slots=True)
class PlannedBreakpoint:
    """A breakpoint after the first ``stable_prefix_end`` blocks."""

    stable_prefix_end: int
    cumulative_tokens: int
    marginal_tokens: int
    expected_reads: float
    expected_net_savings: float


@dataclass(frozen=True, slots=True)
class _State:
    total_value: float
    previous: int  # -1 when this is the first breakpoint (Rust's None sorts first)


def marginal_net_savings(economics: CacheEconomics, tokens: int, expected_reads: float) -> float:
    cached_read_delta = 1.0 - economics.read_multiplier
    write_tax = economics.write_short_multiplier - 1.0
    return float(tokens) * ((cached_read_delta * expected_reads) - write_tax)


def plan_breakpoints(
    blocks: Sequence[BlockSpec],
    scores: Sequence[BlockStabilityScore],
    stable_prefix_length: int,
    observation_count: int,
    family: ModelFamily,
) -> list[PlannedBreakpoint]:
    """The breakpoints NeMo Relay plans; ``blocks`` may hold one block past the prefix."""
    horizon = float(max(observation_count - 1, 0))
    if horizon <= 0.0 or family.max_cache_breakpoints == 0 or stable_prefix_length == 0:
        return []
    prefix_end = min(stable_prefix_length, len(blocks))
    cumulative = _prefix_stats(blocks, scores, prefix_end)
    candidates = _candidates(blocks, cumulative, prefix_end, horizon, family.min_cacheable_tokens)
    selected = _select(candidates, family.max_cache_breakpoints, family.economics)
    if selected is None:
        return []
    return _keep_profitable(selected, candidates, family.economics)


def _prefix_stats(
    blocks: Sequence[BlockSpec], scores: Sequence[BlockStabilityScore], prefix_end: int
) -> list[tuple[int, float]]:
    """``(cumulative tokens, weakest signal so far)`` per leading stable block."""
    stats: list[tuple[int, float]] = []
    tokens, weakest = 0, 1.0
    for index, score in enumerate(scores[:prefix_end]):
        if score.classification is not StabilityClass.STABLE:
            break
        tokens = min(tokens + blocks[index].tokens, _U32_MAX)
        signal = min(max(score.score, 0.0), 1.0) * min(max(score.confidence, 0.0), 1.0)
        weakest = min(weakest, signal)
        stats.append((tokens, weakest))
    return stats


def _candidates(
    blocks: Sequence[BlockSpec],
    stats: list[tuple[int, float]],
    prefix_end: int,
    horizon: float,
    min_tokens: int,
) -> list[Candidate]:
    candidates: list[Candidate] = []
    previous_tokens = 0
    for index, (tokens, weakest) in enumerate(stats[:prefix_end]):
        if tokens < min_tokens:
            previous_tokens = tokens
            continue
        crossing = previous_tokens < min_tokens <= tokens
        kind = _boundary_kind(blocks, index, crossing)
        if kind is not None:
            candidates.append(Candidate(index + 1, tokens, horizon * weakest, kind))
        previous_tokens = tokens
    return candidates


def _boundary_kind(
    blocks: Sequence[BlockSpec], index: int, threshold_crossing: bool
) -> CandidateKind | None:
    """Inside a run of tool schemas only the block crossing the minimum size is a boundary."""
    spec = blocks[index]
    tool_schema = BlockContentType.TOOL_SCHEMA.value
    next_is_tool = index + 1 < len(blocks) and blocks[index + 1].content_type == tool_schema
    if spec.content_type == tool_schema:
        return None if next_is_tool and not threshold_crossing else CandidateKind.TOOL_CLUSTER
    if spec.provenance == ProvenanceLabel.RETRIEVAL.value:
        return CandidateKind.RETRIEVAL
    if spec.role == PromptRole.USER.value:
        return CandidateKind.USER
    if spec.content_type in _STRUCTURED:
        return CandidateKind.STRUCTURED
    if spec.role == PromptRole.SYSTEM.value:
        return CandidateKind.SYSTEM
    return CandidateKind.GENERIC


def _select(
    candidates: list[Candidate], max_breakpoints: int, economics: CacheEconomics
) -> list[int] | None:
    """Indices of the best candidate set (dynamic program over count and last candidate)."""
    if not candidates or max_breakpoints == 0:
        return None
    table: list[list[_State | None]] = [[None] * (max_breakpoints + 1) for _ in candidates]
    for index, candidate in enumerate(candidates):
        base = marginal_net_savings(
            economics, candidate.cumulative_tokens, candidate.expected_reads
        )
        if base > 0.0:
            table[index][1] = _State(base, -1)
        for count in range(2, min(max_breakpoints, index + 1) + 1):
            for previous in range(index):
                proposal = _extend(table, candidates, index, count, previous, economics)
                if proposal is not None and _better_state(table[index][count], proposal):
                    table[index][count] = proposal
    best = _best_terminal(table, candidates)
    return None if best is None else _reconstruct(table, *best)


def _extend(
    table: list[list[_State | None]],
    candidates: list[Candidate],
    index: int,
    count: int,
    previous: int,
    economics: CacheEconomics,
) -> _State | None:
    previous_state = table[previous][count - 1]
    if previous_state is None:
        return None
    marginal = max(candidates[index].cumulative_tokens - candidates[previous].cumulative_tokens, 0)
    if marginal == 0:
        return None
    segment = marginal_net_savings(economics, marginal, candidates[index].expected_reads)
    if segment <= 0.0:
        return None
    return _State(previous_state.total_value + segment, previous)


def _better_state(current: _State | None, proposal: _State) -> bool:
    if current is None or proposal.total_value > current.total_value + _TIE:
        return True
    if current.total_value > proposal.total_value + _TIE:
        return False
    return proposal.previous > current.previous


def _best_terminal(
    table: list[list[_State | None]], candidates: list[Candidate]
) -> tuple[int, int] | None:
    best: tuple[int, int, _State] | None = None
    for index, row in enumerate(table):
        for count, state in enumerate(row):
            if count == 0 or state is None:
                continue
            if best is None or _better_terminal(best, (index, count, state), candidates):
                best = (index, count, state)
    return None if best is None else (best[0], best[1])


def _better_terminal(
    current: tuple[int, int, _State], proposal: tuple[int, int, _State], candidates: list[Candidate]
) -> bool:
    """More value, then fewer breakpoints, then a stronger boundary kind, then a longer prefix."""
    current_index, current_count, current_state = current
    proposal_index, proposal_count, proposal_state = proposal
    if proposal_state.total_value > current_state.total_value + _TIE:
        return True
    if current_state.total_value > proposal_state.total_value + _TIE:
        return False
    if proposal_count != current_count:
        return proposal_count < current_count
    proposal_kind, current_kind = candidates[proposal_index].kind, candidates[current_index].kind
    if proposal_kind != current_kind:
        return proposal_kind > current_kind
    return (
        candidates[proposal_index].stable_prefix_end > candidates[current_index].stable_prefix_end
    )


def _reconstruct(table: list[list[_State | None]], index: int, count: int) -> list[int]:
    selected: list[int] = []
    while count > 0:
        selected.append(index)
        state = table[index][count]
        if state is None or state.previous < 0:
            break
        index, count = state.previous, count - 1
    selected.reverse()
    return selected


def _keep_profitable(
    selected: list[int], candidates: list[Candidate], economics: CacheEconomics
) -> list[PlannedBreakpoint]:
    """Drop a chosen breakpoint whose own segment does not pay (measured from the last kept)."""
    planned: list[PlannedBreakpoint] = []
    previous_tokens = 0
    for index in selected:
        candidate = candidates[index]
        marginal = max(candidate.cumulative_tokens - previous_tokens, 0)
        savings = marginal_net_savings(economics, marginal, candidate.expected_reads)
        if savings <= 0.0 or marginal == 0:
            continue
        planned.append(
            PlannedBreakpoint(
                candidate.stable_prefix_end,
                candidate.cumulative_tokens,
                marginal,
                candidate.expected_reads,
                savings,
            )
        )
        previous_tokens = candidate.cumulative_tokens
    return planned
