"""Which prompt blocks stay the same across requests, and for how long.

A provider's prompt cache only pays off for a prefix that repeats exactly, so
each span is scored by how often it is present and how often it carries its
most common content, and the stable prefix is the longest exact block prefix
shared by a dominant share of the observation window. Ported from NeMo
Relay's ``acg::stability`` (the version that orders scores by a total order
and measures the prefix by exact prefix mass).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict

from adaptive.acg.canonical import sha256_hex
from adaptive.acg.prompt_ir import BlockContentType, PromptBlock, PromptIR, PromptRole
from adaptive.wire import WireModel

BlockKey = tuple[str, str, str, str]
"""``(span_id, role, content_type, content)``: when two blocks count as the same block."""

_SCAFFOLD_CONTENT_TYPES = frozenset(
    {BlockContentType.TOOL_SCHEMA.value, BlockContentType.STRUCTURED_OUTPUT.value}
)
STABLE_SCAFFOLD_BINDING = "stable-scaffold"
"""What a prefix that stays inside the preamble is bound to instead of a request."""
_USIZE_MAX = 2**64 - 1


class StabilityThresholds(WireModel):
    """Score cut-offs for the classes, and the sample size for full confidence."""

    model_config = ConfigDict(frozen=True)

    stable_threshold: float = 0.95
    semi_stable_threshold: float = 0.50
    min_observations_for_full_confidence: int = 20


class StabilityClass(StrEnum):
    """Stability bucket of a span."""

    STABLE = "stable"
    SEMI_STABLE = "semi_stable"
    VARIABLE = "variable"


_CLASS_RANK = {StabilityClass.VARIABLE: 0, StabilityClass.SEMI_STABLE: 1, StabilityClass.STABLE: 2}


class BlockStabilityScore(WireModel):
    """How stable one span is across the window (NeMo Relay's ``BlockStabilityScore``).

    Frozen so that an incrementally maintained window can hand the same
    score object to several results.
    """

    model_config = ConfigDict(frozen=True)

    span_id: str
    classification: StabilityClass
    score: float
    confidence: float
    observation_count: int


class StabilityAnalysisResult(WireModel):
    """Span scores in prompt order, the stable prefix, and its fingerprint."""

    omit_when_none: ClassVar[frozenset[str]] = frozenset({"stable_prefix_fingerprint"})

    scores: list[BlockStabilityScore]
    stable_prefix_length: int
    stable_prefix_fingerprint: str | None = None
    total_observations: int


def analyze_stability(
    observations: Sequence[PromptIR], thresholds: StabilityThresholds | None = None
) -> StabilityAnalysisResult:
    """Score every span seen in ``observations`` and find the dominant stable prefix.

    The fingerprint here is the plain prefix fingerprint; what the ACG learner
    stores is bound to a learning key (see ``analyze_profile_stability``).
    """
    thresholds = thresholds if thresholds is not None else StabilityThresholds()
    total = len(observations)
    if total == 0:
        return StabilityAnalysisResult(scores=[], stable_prefix_length=0, total_observations=0)
    scores = _scores_in_prompt_order(observations, total, thresholds)
    prefix_length = dominant_prefix_length(observations, thresholds.stable_threshold)
    fingerprint = _most_common_digest(
        prompt_prefix_fingerprint(observation, prefix_length) for observation in observations
    )
    return StabilityAnalysisResult(
        scores=scores,
        stable_prefix_length=prefix_length,
        stable_prefix_fingerprint=fingerprint,
        total_observations=total,
    )


def analyze_profile_stability(
    observations: Sequence[PromptIR],
    learning_key: str,
    thresholds: StabilityThresholds | None = None,
) -> StabilityAnalysisResult:
    """The result the ACG learner stores for a learning key's window."""
    result = analyze_stability(observations, thresholds)
    fingerprint = dominant_profile_prefix_fingerprint(
        observations, result.stable_prefix_length, learning_key
    )
    return result.model_copy(update={"stable_prefix_fingerprint": fingerprint})


class _SpanTally:
    """Counts for one span over a window (the reference's ``SpanObservations``)."""

    def __init__(self, first_index: int) -> None:
        self.content_counts: Counter[str] = Counter()
        self.present_count = 0
        self.first_index = first_index


def _scores_in_prompt_order(
    observations: Sequence[PromptIR], total: int, thresholds: StabilityThresholds
) -> list[BlockStabilityScore]:
    tallies: dict[str, _SpanTally] = {}
    for observation in observations:
        for block in observation.blocks:
            tally = tallies.setdefault(block.span_id, _SpanTally(block.sequence_index))
            tally.content_counts[block.content] += 1
            tally.first_index = min(tally.first_index, block.sequence_index)
        for span_id in {block.span_id for block in observation.blocks}:
            tallies[span_id].present_count += 1
    ranked = [
        (tally.first_index, _score_span(span_id, tally, total, thresholds))
        for span_id, tally in tallies.items()
    ]
    ranked.sort(key=lambda item: score_order_key(item[0], item[1]))
    return [score for _, score in ranked]


def _score_span(
    span_id: str, tally: _SpanTally, total: int, thresholds: StabilityThresholds
) -> BlockStabilityScore:
    dominant = max(tally.content_counts.values(), default=0)
    return build_block_score(span_id, tally.present_count, dominant, total, thresholds)


def build_block_score(
    span_id: str,
    present_count: int,
    dominant_count: int,
    total: int,
    thresholds: StabilityThresholds,
) -> BlockStabilityScore:
    """One span's score from its presence count and its commonest content's count."""
    score = effective_stability_score(present_count, dominant_count, total)
    return BlockStabilityScore.model_construct(
        span_id=span_id,
        classification=classify_stability(score, thresholds),
        score=score,
        confidence=stability_confidence(present_count, thresholds),
        observation_count=present_count,
    )


def effective_stability_score(present_count: int, dominant_count: int, total: int) -> float:
    """Presence rate times the share of the dominant content (same float steps as Rust)."""
    presence_rate = present_count / total
    dominant_fraction = 0.0 if present_count == 0 else dominant_count / present_count
    return presence_rate * dominant_fraction


def classify_stability(score: float, thresholds: StabilityThresholds) -> StabilityClass:
    """Bucket a score; both thresholds are inclusive lower bounds."""
    if score >= thresholds.stable_threshold:
        return StabilityClass.STABLE
    if score >= thresholds.semi_stable_threshold:
        return StabilityClass.SEMI_STABLE
    return StabilityClass.VARIABLE


def stability_confidence(present_count: int, thresholds: StabilityThresholds) -> float:
    """Grows linearly with observations until the full-confidence sample size."""
    needed = thresholds.min_observations_for_full_confidence
    if needed == 0:
        return 1.0
    return min(present_count / needed, 1.0)


def score_order_key(first_index: int, score: BlockStabilityScore) -> tuple[int, int, str]:
    """Prompt order, least stable first at a shared index, then span id.

    Spans of different observations can share a first index (``user-4`` and
    ``assistant-4``); the class rank and span id make the order total so every
    process writes the same list.
    """
    return (first_index, _CLASS_RANK[score.classification], score.span_id)


def required_prefix_mass(total: int, stable_threshold: float) -> int:
    """Observations that must share a prefix: ``ceil(threshold·N)``, but a strict majority.

    A strict majority makes the dominant child at each depth unique.
    """
    product = stable_threshold * total
    wanted = _as_usize(math.ceil(product) if math.isfinite(product) else product)
    return max(total // 2 + 1, min(wanted, max(total, 1)))


def _as_usize(value: float) -> int:
    """Rust's saturating ``f64 as usize``."""
    if math.isnan(value) or value <= 0:
        return 0
    if value >= _USIZE_MAX:
        return _USIZE_MAX
    return int(value)


def dominant_prefix_length(observations: Sequence[PromptIR], stable_threshold: float) -> int:
    """Length of the longest exact block prefix shared by the required share of the window."""
    required = required_prefix_mass(len(observations), stable_threshold)
    members: list[PromptIR] = list(observations)
    depth = 0
    while True:
        children: dict[BlockKey, list[PromptIR]] = {}
        for observation in members:
            if depth < len(observation.blocks):
                children.setdefault(block_key(observation.blocks[depth]), []).append(observation)
        dominant = next((child for child in children.values() if len(child) >= required), None)
        if dominant is None:
            return depth
        members = dominant
        depth += 1


def block_key(block: PromptBlock) -> BlockKey:
    """The identity shared by the prefix-length rule and the prefix fingerprint."""
    # The enum members are ``str`` subclasses equal to their values, so they
    # serve as the strings directly (``.value`` costs an enum descriptor call).
    return (block.span_id, block.role, block.content_type, block.content)


def block_key_json(key: BlockKey) -> str:
    """``serde_json::to_string`` of the key tuple, i.e. a compact JSON array of strings."""
    return "[" + ",".join(json.dumps(part, ensure_ascii=False) for part in key) + "]"


def prefix_fingerprint_of_keys(keys: Iterable[BlockKey]) -> str:
    """Digest of a block prefix given by its keys."""
    return sha256_hex("\n".join(block_key_json(key) for key in keys))


def prompt_prefix_fingerprint(observation: PromptIR, prefix_length: int) -> str | None:
    """Digest of an observation's first ``prefix_length`` blocks; ``None`` if empty or too short."""
    if prefix_length == 0 or len(observation.blocks) < prefix_length:
        return None
    return prefix_fingerprint_of_keys(
        block_key(block) for block in observation.blocks[:prefix_length]
    )


def is_scaffold_block(role: str, content_type: str) -> bool:
    """System, tool-schema and structured-output blocks form the reusable preamble."""
    return role == PromptRole.SYSTEM.value or content_type in _SCAFFOLD_CONTENT_TYPES


def profile_prefix_fingerprint(
    observation: PromptIR, prefix_length: int, learning_key: str
) -> str | None:
    """The prefix digest bound to a learning key.

    A prefix inside the preamble is bound to the marker ``stable-scaffold``
    and so stays reusable across turns; a longer prefix is bound to the whole
    source request, because the IR cannot reproduce the provider's exact
    prefix. Without a source request hash such a prefix has no fingerprint.
    """
    prefix = prompt_prefix_fingerprint(observation, prefix_length)
    if prefix is None:
        return None
    leading = observation.blocks[:prefix_length]
    within_scaffold = all(is_scaffold_block(b.role.value, b.content_type.value) for b in leading)
    binding = STABLE_SCAFFOLD_BINDING if within_scaffold else observation.source_request_hash
    if binding is None:
        return None
    return bind_prefix_fingerprint(learning_key, prefix, binding)


def bind_prefix_fingerprint(learning_key: str, prefix_fingerprint: str, binding: str) -> str:
    """Digest of learning key, prefix digest and binding, one per line."""
    return sha256_hex(f"{learning_key}\n{prefix_fingerprint}\n{binding}")


def dominant_profile_prefix_fingerprint(
    observations: Sequence[PromptIR], prefix_length: int, learning_key: str
) -> str | None:
    """The commonest key-bound prefix digest in the window (ties: smallest digest)."""
    return _most_common_digest(
        profile_prefix_fingerprint(observation, prefix_length, learning_key)
        for observation in observations
    )


def _most_common_digest(digests: Iterable[str | None]) -> str | None:
    counts = Counter(digest for digest in digests if digest is not None)
    return most_common_with_smallest_tie(counts)


def most_common_with_smallest_tie(counts: Counter[str]) -> str | None:
    """Highest count wins; among equal counts the smallest string, so no order leaks in."""
    if not counts:
        return None
    top = max(counts.values())
    return min(digest for digest, count in counts.items() if count == top)
