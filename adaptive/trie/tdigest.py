"""A t-digest that reproduces the Rust ``tdigest`` 0.2.3 crate bit for bit.

NeMo Relay stores its percentile sketches as that crate's serde form and
reads them back, so a Python process sharing the same state must compress
centroids with exactly the same floating-point steps; otherwise the two
runtimes would drift apart on every merge. The general operations
(``merge_unsorted``, ``merge_sorted``, ``merge_digests``, ``from_parts``,
``estimate_quantile``) follow the crate's operation order literally.

The learner merges one value at a time, so ``insert`` is a separate,
allocation-light path for that case; it produces the same digest as
``merge_unsorted([value])`` (the test-suite checks this property).

Exactness holds for finite values. NaN is unsupported (the crate orders it
after every number; nothing the learners feed in can be NaN), and stored
centroids are taken to be sorted by mean, which the crate guarantees by
sorting after every merge and ``insert`` relies on to place the new value.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from functools import reduce
from itertools import islice, repeat
from operator import add
from typing import Any

DEFAULT_MAX_SIZE = 100
"""Centroid budget NeMo Relay uses for every digest (``new_with_size(100)``)."""

JsonObject = dict[str, Any]


def k_to_q(k: float, d: float) -> float:
    """Scale function mapping a centroid index to its cumulative-weight quantile."""
    k_div_d = k / d
    if k_div_d >= 0.5:
        base = 1.0 - k_div_d
        return 1.0 - 2.0 * base * base
    return 2.0 * k_div_d * k_div_d


_Q_TABLES: dict[int, list[float]] = {}


def _q_table(max_size: int, needed: int) -> list[float]:
    """``k_to_q(k, max_size)`` for k = 1, 2, ... cached, so the hot path only indexes."""
    table = _Q_TABLES.get(max_size)
    if table is None or len(table) < needed:
        length = max(needed, 2 * max_size + 2)
        table = [k_to_q(float(k), float(max_size)) for k in range(1, length + 1)]
        _Q_TABLES[max_size] = table
    return table


_UNCOMPRESSED_CAPACITY: dict[int, int] = {}


def _uncompressed_capacity(max_size: int) -> int:
    """Largest count at which a digest of weight-1 centroids merges nothing.

    With every weight 1 the cumulative weight before item ``j`` is ``j + 1``,
    so item ``j`` starts a new centroid when ``j + 1 > k_to_q(j) * count``;
    once that fails for some ``j`` at a count it fails at every larger count.
    """
    capacity = _UNCOMPRESSED_CAPACITY.get(max_size)
    if capacity is None:
        capacity = 1
        size = float(max_size)
        while all(
            float(j + 1) > k_to_q(float(j), size) * float(capacity + 1)
            for j in range(1, capacity + 1)
        ):
            capacity += 1
        _UNCOMPRESSED_CAPACITY[max_size] = capacity
    return capacity


def _clamp(value: float, lo: float, hi: float) -> float:
    if value > hi:
        return hi
    if value < lo:
        return lo
    return value


def _ordered_min(current: float, candidate: float) -> float:
    """``std::cmp::min`` on ``OrderedFloat``: NaN is the largest value, ties keep ``current``."""
    if math.isnan(candidate):
        return current
    if math.isnan(current) or candidate < current:
        return candidate
    return current


def _ordered_max(current: float, candidate: float) -> float:
    """``std::cmp::max`` on ``OrderedFloat``: NaN is the largest value, ties take ``candidate``."""
    if math.isnan(current):
        return current
    if math.isnan(candidate) or candidate >= current:
        return candidate
    return current


def _json_float(value: float) -> float:
    """NeMo Relay writes an empty digest's NaN min/max as ``0.0`` (its ``tdigest_serde``)."""
    return 0.0 if math.isnan(value) else value


def _read_float(value: Any) -> float:
    return 0.0 if value is None else float(value)


class TDigest:
    """Mergeable quantile sketch: centroids kept as parallel ``means``/``weights`` lists.

    The general merge operations return a new digest, as the crate does;
    ``insert`` updates in place because the learner never needs the old one.
    """

    __slots__ = ("count", "max", "max_size", "means", "min", "sum", "weights")

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.means: list[float] = []
        self.weights: list[float] = []
        self.max_size = max_size
        self.sum = 0.0
        self.count = 0.0
        self.max = math.nan
        self.min = math.nan

    @classmethod
    def from_parts(
        cls,
        means: Sequence[float],
        weights: Sequence[float],
        *,
        sum: float,
        count: float,
        max: float,
        min: float,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> TDigest:
        """The crate's ``TDigest::new``: recompress when there are more centroids than allowed.

        Like the crate, the recompressed digest takes ``DEFAULT_MAX_SIZE``
        rather than ``max_size`` (it merges into ``new_with_size(100)``).
        """
        if len(means) <= max_size:
            return cls._raw(list(means), list(weights), sum, count, max, min, max_size)
        oversized = cls._raw(list(means), list(weights), sum, count, max, min, len(means))
        return cls.merge_digests([cls(DEFAULT_MAX_SIZE), oversized])

    @classmethod
    def _raw(
        cls,
        means: list[float],
        weights: list[float],
        total: float,
        count: float,
        maximum: float,
        minimum: float,
        max_size: int,
    ) -> TDigest:
        digest = cls(max_size)
        digest.means = means
        digest.weights = weights
        digest.sum = total
        digest.count = count
        digest.max = maximum
        digest.min = minimum
        return digest

    def copy(self) -> TDigest:
        return self._raw(
            list(self.means),
            list(self.weights),
            self.sum,
            self.count,
            self.max,
            self.min,
            self.max_size,
        )

    def is_empty(self) -> bool:
        return not self.means

    def mean(self) -> float:
        return self.sum / self.count if self.count > 0.0 else 0.0

    def __eq__(self, other: object) -> bool:
        """Field-wise float equality where NaN equals NaN, as with the crate's ``OrderedFloat``."""
        if not isinstance(other, TDigest):
            return NotImplemented
        return (
            self.max_size == other.max_size
            and _same_floats(self.means, other.means)
            and _same_floats(self.weights, other.weights)
            and _same_floats(
                [self.sum, self.count, self.max, self.min],
                [other.sum, other.count, other.max, other.min],
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"TDigest(centroids={len(self.means)}, count={self.count}, sum={self.sum}, "
            f"min={self.min}, max={self.max}, max_size={self.max_size})"
        )

    # ------------------------------------------------------------------ merges

    def merge_unsorted(self, values: Iterable[float]) -> TDigest:
        """A new digest holding this one plus ``values`` (any order)."""
        return self.merge_sorted(sorted(values))

    def merge_sorted(self, sorted_values: Sequence[float]) -> TDigest:
        """A new digest holding this one plus ascending ``sorted_values``.

        Literal port of the crate: walk centroids and values in mean order,
        folding each into the current centroid while the cumulative weight
        stays under the scale-function limit.
        """
        if not sorted_values:
            return self.copy()
        result = TDigest(self.max_size)
        result.count = self.count + float(len(sorted_values))
        first_value, last_value = sorted_values[0], sorted_values[-1]
        if self.count > 0.0:
            result.min = _ordered_min(self.min, first_value)
            result.max = _ordered_max(self.max, last_value)
        else:
            result.min = first_value
            result.max = last_value

        means, weights = _merged_in_crate_order(self.means, self.weights, sorted_values)
        q_table = _q_table(self.max_size, len(means) + 1)
        out_means, out_weights, result.sum = _compress_walk(means, weights, q_table, result.count)
        result.means, result.weights = _sorted_by_mean(out_means, out_weights)
        return result

    @staticmethod
    def merge_digests(digests: Sequence[TDigest]) -> TDigest:
        """One digest summarising all of ``digests`` (the crate's ``merge_digests``)."""
        if sum(len(digest.means) for digest in digests) == 0:
            return TDigest(DEFAULT_MAX_SIZE)
        max_size = digests[0].max_size
        means: list[float] = []
        weights: list[float] = []
        starts: list[int] = []
        count = 0.0
        minimum = math.inf
        maximum = -math.inf
        for digest in digests:
            starts.append(len(means))
            if digest.count > 0.0:
                minimum = _ordered_min(minimum, digest.min)
                maximum = _ordered_max(maximum, digest.max)
                count += digest.count
                means.extend(digest.means)
                weights.extend(digest.weights)
        if not means:
            # Only zero-count digests carried centroids; the crate would panic here.
            return TDigest(max_size)
        _merge_sorted_blocks(means, weights, starts)

        result = TDigest(max_size)
        # The crate reuses k = 1 for the second limit: it increments after computing.
        q_table = _q_table(max_size, len(means) + 1)
        limits = [q_table[0], *q_table]
        out_means, out_weights, result.sum = _compress_walk(means, weights, limits, count)
        result.means, result.weights = _sorted_by_mean(out_means, out_weights)
        result.count = count
        result.min = minimum
        result.max = maximum
        return result

    def insert(self, value: float) -> None:
        """Merge one value in place; same result as ``merge_unsorted([value])``.

        The crate re-walks every centroid on each merge (the limits depend on
        the new total and every kept centroid's mean is recomputed as
        ``(w * m) / w``), so this stays O(centroids); it only drops the
        general path's per-item dispatch and allocations, which is where
        CPython spends its time.
        """
        old_count = self.count
        count = old_count + 1.0
        if old_count > 0.0:
            self.min = _ordered_min(self.min, value)
            self.max = _ordered_max(self.max, value)
        else:
            self.min = value
            self.max = value
        self.count = count

        # Merged order of the crate: centroids with a smaller mean, the value, the rest.
        means = self.means
        weights = self.weights
        at = bisect_left(means, value)
        means.insert(at, value)
        weights.insert(at, 1.0)
        if self._stays_uncompressed(old_count):
            self._keep_every_value()
            return
        q_table = _q_table(self.max_size, len(means) + 1)
        out_means, out_weights, self.sum = _compress_walk(means, weights, q_table, count)

        if out_means == sorted(out_means):
            self.means = out_means
            self.weights = out_weights
        else:
            self.means, self.weights = _sorted_by_mean(out_means, out_weights)

    def _stays_uncompressed(self, old_count: float) -> bool:
        """True while every centroid is one raw value and the next merge keeps them all.

        Young digests (up to a count fixed by ``max_size``) hold each value
        as its own weight-1 centroid; the crate's walk then only rewrites
        each mean as ``0.0 + m``, so the walk can be skipped.
        """
        weights = self.weights
        return (
            len(weights) - 1 == old_count
            and len(weights) <= _uncompressed_capacity(self.max_size)
            and weights.count(1.0) == len(weights)
        )

    def _keep_every_value(self) -> None:
        """Outcome of the crate's walk when no centroid absorbs another."""
        folded = list(map(add, repeat(0.0), self.means))
        self.means = folded
        self.sum = reduce(add, folded, 0.0)

    # --------------------------------------------------------------- quantiles

    def estimate_quantile(self, q: float) -> float:
        """Interpolated value at quantile ``q``; 0.0 for an empty digest (crate semantics)."""
        means = self.means
        weights = self.weights
        if not means:
            return 0.0
        count = self.count
        rank = q * count
        last = len(means) - 1
        if q > 0.5:
            if q >= 1.0:
                return self.max
            pos = 0
            t = count
            for k in range(last, -1, -1):
                t -= weights[k]
                if rank >= t:
                    pos = k
                    break
        else:
            if q <= 0.0:
                return self.min
            pos = last
            t = 0.0
            for k in range(len(means)):
                if rank < t + weights[k]:
                    pos = k
                    break
                t += weights[k]

        delta = 0.0
        lo = self.min
        hi = self.max
        if len(means) > 1:
            if pos == 0:
                delta = means[pos + 1] - means[pos]
                hi = means[pos + 1]
            elif pos == last:
                delta = means[pos] - means[pos - 1]
                lo = means[pos - 1]
            else:
                delta = (means[pos + 1] - means[pos - 1]) / 2.0
                lo = means[pos - 1]
                hi = means[pos + 1]
        value = means[pos] + ((rank - t) / weights[pos] - 0.5) * delta
        return _clamp(value, lo, hi)

    # -------------------------------------------------------------------- wire

    def to_wire(self) -> JsonObject:
        """The crate's serde layout, with NaN written as ``0.0`` like NeMo Relay does."""
        return {
            "centroids": [
                {"mean": _json_float(mean), "weight": _json_float(weight)}
                for mean, weight in zip(self.means, self.weights, strict=True)
            ],
            "max_size": self.max_size,
            "sum": _json_float(self.sum),
            "count": _json_float(self.count),
            "max": _json_float(self.max),
            "min": _json_float(self.min),
        }

    @classmethod
    def from_wire(cls, data: JsonObject) -> TDigest:
        """Load the serde layout as stored (no recompression, nulls read as ``0.0``)."""
        centroids = data.get("centroids") or []
        return cls._raw(
            [_read_float(centroid.get("mean")) for centroid in centroids],
            [_read_float(centroid.get("weight")) for centroid in centroids],
            _read_float(data.get("sum")),
            _read_float(data.get("count")),
            _read_float(data.get("max")),
            _read_float(data.get("min")),
            int(data.get("max_size", DEFAULT_MAX_SIZE)),
        )


def _merged_in_crate_order(
    means: list[float], weights: list[float], sorted_values: Sequence[float]
) -> tuple[list[float], list[float]]:
    """Centroids and new values in one mean order; a value goes before an equal centroid."""
    merged_means: list[float] = []
    merged_weights: list[float] = []
    ci = 0
    for value in sorted_values:
        while ci < len(means) and means[ci] < value:
            merged_means.append(means[ci])
            merged_weights.append(weights[ci])
            ci += 1
        merged_means.append(value)
        merged_weights.append(1.0)
    merged_means.extend(means[ci:])
    merged_weights.extend(weights[ci:])
    return merged_means, merged_weights


def _compress_walk(
    means: list[float], weights: list[float], q_table: list[float], count: float
) -> tuple[list[float], list[float], float]:
    """The crate's compression walk over the merged centroids: (means, weights, sum).

    Element ``j`` closes the open centroid and opens a new one when the
    cumulative weight up to it exceeds ``q_table[k] * count`` (``k`` =
    centroids closed so far); otherwise it is merged into the open one.
    """
    out_means: list[float] = []
    out_weights: list[float] = []
    push_mean = out_means.append
    push_weight = out_weights.append
    total = 0.0
    k = 0
    limit = q_table[0] * count
    curr_mean = means[0]
    curr_weight = weight_so_far = weights[0]
    sums_to_merge = weights_to_merge = 0.0
    for mean, weight in zip(islice(means, 1, None), islice(weights, 1, None), strict=True):
        weight_so_far += weight
        if weight_so_far > limit:
            new_sum = sums_to_merge + curr_weight * curr_mean
            # A centroid that absorbed nothing keeps its weight (w + 0.0 == w).
            if weights_to_merge:
                curr_weight += weights_to_merge
                sums_to_merge = weights_to_merge = 0.0
            push_mean(new_sum / curr_weight)
            push_weight(curr_weight)
            total += new_sum
            k += 1
            limit = q_table[k] * count
            curr_mean = mean
            curr_weight = weight
        else:
            sums_to_merge += mean * weight
            weights_to_merge += weight
    new_sum = sums_to_merge + curr_weight * curr_mean
    curr_weight += weights_to_merge
    push_mean(new_sum / curr_weight)
    push_weight(curr_weight)
    return out_means, out_weights, total + new_sum


def _sorted_by_mean(means: list[float], weights: list[float]) -> tuple[list[float], list[float]]:
    """Stable sort of centroids by mean, as ``Vec::sort`` on ``Centroid`` does."""
    order = sorted(range(len(means)), key=means.__getitem__)
    return [means[i] for i in order], [weights[i] for i in order]


def _merge_sorted_blocks(means: list[float], weights: list[float], starts: list[int]) -> None:
    """Pairwise merge of the per-digest sorted runs, in the crate's block order."""
    per_block = 1
    while per_block < len(starts):
        for i in range(0, len(starts), per_block * 2):
            if i + per_block < len(starts):
                first = starts[i]
                middle = starts[i + per_block]
                last = starts[i + 2 * per_block] if i + 2 * per_block < len(starts) else len(means)
                _external_merge(means, weights, first, middle, last)
        per_block *= 2


def _external_merge(
    means: list[float], weights: list[float], first: int, middle: int, last: int
) -> None:
    """Merge ``[first, middle)`` and ``[middle, last)``; ties take the left run first."""
    merged_means: list[float] = []
    merged_weights: list[float] = []
    i, j = first, middle
    while i < middle and j < last:
        if means[j] < means[i]:
            merged_means.append(means[j])
            merged_weights.append(weights[j])
            j += 1
        else:
            merged_means.append(means[i])
            merged_weights.append(weights[i])
            i += 1
    merged_means.extend(means[i:middle])
    merged_weights.extend(weights[i:middle])
    merged_means.extend(means[j:last])
    merged_weights.extend(weights[j:last])
    means[first:last] = merged_means
    weights[first:last] = merged_weights


def _same_floats(left: list[float], right: list[float]) -> bool:
    if len(left) != len(right):
        return False
    return all(
        a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(left, right, strict=True)
    )
