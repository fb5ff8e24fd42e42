"""A bounded observation window whose stability analysis is kept up to date.

The ACG learner appends one observation per LLM call and re-analyzes the
window every time. Recounting up to 100 observations per call is too slow
at hundreds of calls per second, so this window updates per-span tallies and
a prefix trie as observations enter and leave; ``result()`` then only
re-scores spans whose tallies changed. Its results equal
``analyze_stability`` on the same observations.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator

from adaptive.acg.prompt_ir import PromptIR
from adaptive.acg.stability import (
    STABLE_SCAFFOLD_BINDING,
    BlockKey,
    BlockStabilityScore,
    StabilityAnalysisResult,
    StabilityThresholds,
    bind_prefix_fingerprint,
    block_key,
    build_block_score,
    is_scaffold_block,
    most_common_with_smallest_tie,
    prefix_fingerprint_of_keys,
    required_prefix_mass,
    score_order_key,
)

_SCORE_MEMO_LIMIT = 32


class _PrefixNode:
    """One exact block prefix, with how many window observations start with it."""

    __slots__ = (
        "_fingerprint",
        "beyond_scaffold",
        "children",
        "count",
        "heaviest",
        "heaviest_known",
        "key",
        "parent",
    )

    def __init__(self, key: BlockKey | None, parent: _PrefixNode | None) -> None:
        self.key = key
        self.parent = parent
        self.count = 0
        self.children: dict[BlockKey, _PrefixNode] = {}
        self.heaviest: _PrefixNode | None = None
        self.heaviest_known = True
        self._fingerprint: str | None = None
        leaves_scaffold = key is not None and not is_scaffold_block(key[1], key[2])
        self.beyond_scaffold: bool = leaves_scaffold or (
            parent is not None and parent.beyond_scaffold
        )

    def enter(self, key: BlockKey) -> _PrefixNode:
        """Count one more observation through the child for ``key``."""
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = _PrefixNode(key, self)
        child.count += 1
        if self.heaviest_known and (self.heaviest is None or child.count > self.heaviest.count):
            self.heaviest = child
        return child

    def leave(self, child: _PrefixNode) -> None:
        """Count one observation fewer through ``child``, dropping it when unused."""
        child.count -= 1
        if child is self.heaviest:
            self.heaviest_known = False
        if child.count == 0 and child.key is not None:
            del self.children[child.key]

    def heaviest_child(self) -> _PrefixNode | None:
        """A child with the largest count, rescanned only after that child shrank."""
        if not self.heaviest_known:
            self.heaviest = max(self.children.values(), key=_node_count, default=None)
            self.heaviest_known = True
        return self.heaviest

    def fingerprint(self) -> str:
        """Digest of the prefix ending at this node (computed once)."""
        if self._fingerprint is None:
            keys: list[BlockKey] = []
            node: _PrefixNode | None = self
            while node is not None and node.key is not None:
                keys.append(node.key)
                node = node.parent
            self._fingerprint = prefix_fingerprint_of_keys(reversed(keys))
        return self._fingerprint


def _node_count(node: _PrefixNode) -> int:
    return node.count


class _SpanTally:
    """Incremental counts for one span: presence, contents, sequence indexes."""

    __slots__ = (
        "content_counts",
        "first_index",
        "index_counts",
        "memo_total",
        "order_key",
        "present_count",
        "score",
        "score_memo",
        "span_id",
    )

    def __init__(self, span_id: str) -> None:
        self.span_id = span_id
        self.present_count = 0
        self.content_counts: dict[str, int] = {}
        self.index_counts: Counter[int] = Counter()
        self.first_index = -1
        self.score: BlockStabilityScore | None = None
        self.order_key: tuple[int, int, str] | None = None
        # A full window keeps its size, so a span's counts cycle through a few
        # states; remembering their (immutable) scores avoids rebuilding them.
        self.score_memo: dict[tuple[int, int], BlockStabilityScore] = {}
        self.memo_total = -1

    def add_block(self, content: str, sequence_index: int) -> None:
        self.content_counts[content] = self.content_counts.get(content, 0) + 1
        self.index_counts[sequence_index] += 1
        if self.first_index < 0 or sequence_index < self.first_index:
            self.first_index = sequence_index
        self.score = None

    def remove_block(self, content: str, sequence_index: int) -> None:
        remaining = self.content_counts[content] - 1
        if remaining:
            self.content_counts[content] = remaining
        else:
            del self.content_counts[content]
        remaining = self.index_counts[sequence_index] - 1
        if remaining:
            self.index_counts[sequence_index] = remaining
        else:
            del self.index_counts[sequence_index]
            if sequence_index == self.first_index:
                self.first_index = min(self.index_counts, default=-1)
        self.score = None

    def rescore(self, total: int, thresholds: StabilityThresholds) -> bool:
        """Recompute the score; true when the span's place in the order may have moved."""
        if total != self.memo_total or len(self.score_memo) > _SCORE_MEMO_LIMIT:
            self.score_memo.clear()
            self.memo_total = total
        dominant = max(self.content_counts.values(), default=0)
        score = self.score_memo.get((self.present_count, dominant))
        if score is None:
            score = build_block_score(self.span_id, self.present_count, dominant, total, thresholds)
            self.score_memo[(self.present_count, dominant)] = score
        self.score = score
        key = score_order_key(self.first_index, score)
        moved = key != self.order_key
        self.order_key = key
        return moved


class _Entry:
    """An observation plus what it contributed, so eviction can undo it exactly."""

    __slots__ = ("keys", "observation", "path", "sequence_indexes", "span_ids")

    def __init__(self, observation: PromptIR) -> None:
        self.observation = observation
        self.keys = [block_key(block) for block in observation.blocks]
        self.sequence_indexes = [block.sequence_index for block in observation.blocks]
        self.span_ids = {key[0] for key in self.keys}
        self.path: list[_PrefixNode] = []


class _Analysis:
    """The window's current analysis; copied into a fresh result for every caller."""

    __slots__ = ("prefix_length", "prefix_node", "scores", "total")

    def __init__(
        self,
        scores: list[BlockStabilityScore],
        prefix_length: int,
        prefix_node: _PrefixNode,
        total: int,
    ) -> None:
        self.scores = scores
        self.prefix_length = prefix_length
        self.prefix_node = prefix_node
        self.total = total


class StabilityWindow:
    """The newest ``capacity`` observations of one learning key, analyzed incrementally.

    Eviction mirrors NeMo Relay's learner: each append drops at most one
    oldest observation, and only when the window is already full, so a
    window loaded larger than ``capacity`` keeps its size.
    """

    def __init__(
        self,
        capacity: int,
        thresholds: StabilityThresholds | None = None,
        observations: Iterable[PromptIR] = (),
    ) -> None:
        self.capacity = capacity
        self._thresholds = thresholds if thresholds is not None else StabilityThresholds()
        self._entries: deque[_Entry] = deque()
        self._root = _PrefixNode(None, None)
        self._tallies: dict[str, _SpanTally] = {}
        self._ordered: list[_SpanTally] = []
        self._order_stale = True
        self._scored_total = -1
        self._analysis: _Analysis | None = None
        for observation in observations:
            self._add(_Entry(observation))

    @property
    def thresholds(self) -> StabilityThresholds:
        """Fixed for the window's life: remembered scores depend on them."""
        return self._thresholds

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[PromptIR]:
        return (entry.observation for entry in self._entries)

    @property
    def observations(self) -> list[PromptIR]:
        """The window, oldest first."""
        return [entry.observation for entry in self._entries]

    def append(self, observation: PromptIR) -> PromptIR | None:
        """Add the newest observation; returns the one evicted to make room, if any."""
        evicted = None
        if self._entries and len(self._entries) >= self.capacity:
            evicted = self._entries.popleft()
            self._remove(evicted)
        self._add(_Entry(observation))
        return None if evicted is None else evicted.observation

    def extend(self, observations: Iterable[PromptIR]) -> None:
        """Append each observation in order."""
        for observation in observations:
            self.append(observation)

    def result(self) -> StabilityAnalysisResult:
        """Equal to ``analyze_stability(self.observations, self.thresholds)``."""
        analysis = self._current()
        fingerprint = analysis.prefix_node.fingerprint() if analysis.prefix_length else None
        return _result(analysis, fingerprint)

    def profile_result(self, learning_key: str) -> StabilityAnalysisResult:
        """Equal to ``analyze_profile_stability(self.observations, learning_key, thresholds)``."""
        analysis = self._current()
        return _result(analysis, self._profile_fingerprint(analysis, learning_key))

    def _current(self) -> _Analysis:
        if self._analysis is None:
            self._analysis = self._analyze()
        return self._analysis

    def _add(self, entry: _Entry) -> None:
        self._entries.append(entry)
        self._analysis = None
        node = self._root
        node.count += 1
        for key, sequence_index in zip(entry.keys, entry.sequence_indexes, strict=True):
            node = node.enter(key)
            entry.path.append(node)
            self._tally(key[0]).add_block(key[3], sequence_index)
        for span_id in entry.span_ids:
            self._tallies[span_id].present_count += 1

    def _remove(self, entry: _Entry) -> None:
        self._analysis = None
        parent = self._root
        parent.count -= 1
        for node in entry.path:
            parent.leave(node)
            parent = node
        for key, sequence_index in zip(entry.keys, entry.sequence_indexes, strict=True):
            self._tallies[key[0]].remove_block(key[3], sequence_index)
        for span_id in entry.span_ids:
            tally = self._tallies[span_id]
            tally.present_count -= 1
            if tally.present_count == 0:
                del self._tallies[span_id]
                self._order_stale = True

    def _tally(self, span_id: str) -> _SpanTally:
        tally = self._tallies.get(span_id)
        if tally is None:
            tally = self._tallies[span_id] = _SpanTally(span_id)
            self._order_stale = True
        return tally

    def _analyze(self) -> _Analysis:
        total = len(self._entries)
        if total == 0:
            return _Analysis([], 0, self._root, 0)
        scores = self._ordered_scores(total)
        prefix_length, prefix_node = self._dominant_prefix(total)
        return _Analysis(scores, prefix_length, prefix_node, total)

    def _ordered_scores(self, total: int) -> list[BlockStabilityScore]:
        """Re-score only spans whose counts changed (all of them when the size changed)."""
        rescore_all = total != self._scored_total
        self._scored_total = total
        for tally in self._tallies.values():
            if (rescore_all or tally.score is None) and tally.rescore(total, self._thresholds):
                self._order_stale = True
        if self._order_stale:
            self._ordered = sorted(self._tallies.values(), key=_order_key)
            self._order_stale = False
        return [_scored(tally) for tally in self._ordered]

    def _dominant_prefix(self, total: int) -> tuple[int, _PrefixNode]:
        """Descend while one child holds the required share (at most one can)."""
        required = required_prefix_mass(total, self._thresholds.stable_threshold)
        node, depth = self._root, 0
        while True:
            child = node.heaviest_child()
            if child is None or child.count < required:
                return depth, node
            node, depth = child, depth + 1

    def _profile_fingerprint(self, analysis: _Analysis, learning_key: str) -> str | None:
        if analysis.prefix_length == 0:
            return None
        dominant = analysis.prefix_node
        if not dominant.beyond_scaffold:
            # Every observation under the dominant node shares this digest, and
            # they are a strict majority of the window, so it is the commonest.
            return bind_prefix_fingerprint(
                learning_key, dominant.fingerprint(), STABLE_SCAFFOLD_BINDING
            )
        return self._commonest_bound_fingerprint(analysis.prefix_length, learning_key)

    def _commonest_bound_fingerprint(self, prefix_length: int, learning_key: str) -> str | None:
        """Past the scaffold each observation binds to its own request, so count the pairs."""
        bindings: Counter[tuple[_PrefixNode, str]] = Counter()
        for entry in self._entries:
            if len(entry.path) < prefix_length:
                continue
            node = entry.path[prefix_length - 1]
            binding = (
                entry.observation.source_request_hash
                if node.beyond_scaffold
                else STABLE_SCAFFOLD_BINDING
            )
            if binding is not None:
                bindings[(node, binding)] += 1
        if not bindings:
            return None
        top = max(bindings.values())
        digests: Counter[str] = Counter(
            {
                bind_prefix_fingerprint(learning_key, node.fingerprint(), binding): count
                for (node, binding), count in bindings.items()
                if count == top
            }
        )
        return most_common_with_smallest_tie(digests)


def _order_key(tally: _SpanTally) -> tuple[int, int, str]:
    assert tally.order_key is not None, "spans are scored before they are ordered"
    return tally.order_key


def _scored(tally: _SpanTally) -> BlockStabilityScore:
    assert tally.score is not None, "spans are scored before they are listed"
    return tally.score


def _result(analysis: _Analysis, fingerprint: str | None) -> StabilityAnalysisResult:
    return StabilityAnalysisResult.model_construct(
        scores=list(analysis.scores),
        stable_prefix_length=analysis.prefix_length,
        stable_prefix_fingerprint=fingerprint,
        total_observations=analysis.total,
    )
