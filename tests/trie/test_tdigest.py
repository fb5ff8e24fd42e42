"""T-digest: hand-checked estimates and compressions, wire form, fast path == crate path."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive.trie.tdigest import TDigest


def bits(digest: TDigest) -> list[bytes]:
    """Every float of the digest as raw bytes, so -0.0 vs 0.0 and last-bit drift both show."""
    floats = [digest.sum, digest.count, digest.min, digest.max, *digest.means, *digest.weights]
    return [struct.pack("<d", value) for value in floats] + [struct.pack("<q", len(digest.means))]


def inserted(values: list[float], max_size: int = 100) -> TDigest:
    digest = TDigest(max_size)
    for value in values:
        digest.insert(value)
    return digest


def merged_one_by_one(values: list[float], max_size: int = 100) -> TDigest:
    digest = TDigest(max_size)
    for value in values:
        digest = digest.merge_unsorted([value])
    return digest


def centroids(digest: TDigest) -> list[tuple[float, float]]:
    return list(zip(digest.means, digest.weights, strict=True))


class TestEstimates:
    def test_empty_digest_estimates_zero(self) -> None:
        digest = TDigest()
        assert [digest.estimate_quantile(q) for q in (0.0, 0.5, 0.95, 1.0)] == [0.0] * 4

    def test_single_value_is_every_quantile(self) -> None:
        digest = inserted([5.0])
        assert [digest.estimate_quantile(q) for q in (0.0, 0.1, 0.5, 0.9, 1.0)] == [5.0] * 5

    def test_two_values(self) -> None:
        # Centroids (1,1), (3,1); count 2.
        # q=0.25: rank 0.5 falls in centroid 0 (t=0): 1 + (0.5 - 0.5) * (3 - 1) = 1.0
        # q=0.5: rank 1 is not < 1, so centroid 1 (t=1): 3 + (0 - 0.5) * 2 = 2.0
        # q=0.6: rank 1.2, centroid 1 from the top (t=1): 3 + (0.2 - 0.5) * 2 = 2.4
        # q=0.9: 3 + (0.8 - 0.5) * 2 = 3.6, clamped to max 3.0
        digest = inserted([3.0, 1.0])
        assert centroids(digest) == [(1.0, 1.0), (3.0, 1.0)]
        assert digest.estimate_quantile(0.25) == 1.0
        assert digest.estimate_quantile(0.5) == 2.0
        assert digest.estimate_quantile(0.6) == pytest.approx(2.4, abs=1e-12)
        assert digest.estimate_quantile(0.9) == 3.0
        assert digest.estimate_quantile(0.0) == 1.0
        assert digest.estimate_quantile(1.0) == 3.0

    def test_many_equal_values(self) -> None:
        digest = inserted([7.0] * 1000)
        assert digest.count == 1000.0
        assert digest.sum == 7000.0
        assert (digest.min, digest.max) == (7.0, 7.0)
        assert len(digest.means) < 1000  # compressed
        assert {digest.estimate_quantile(q) for q in (0.01, 0.5, 0.9, 0.95, 0.99)} == {7.0}

    def test_compression_by_hand(self) -> None:
        # max_size 2: k_to_q(1, 2) = 0.5, k_to_q(2, 2) = 1.0.
        # insert 1 -> [1(1)]
        # insert 2 -> count 2, limit 0.5*2 = 1: W=2 > 1 -> [1(1), 2(1)]
        # insert 3 -> count 3, limit 1.5: 2 starts a centroid, limit 1.0*3 = 3, W=3 <= 3
        #             so 3 joins it: (2 + 3) / 2 = 2.5 -> [1(1), 2.5(2)], sum 1 + 5 = 6
        # insert 4 -> count 4, limit 2: 2.5 starts one, limit 4, W=4 <= 4 so 4 joins:
        #             (4 + 2 * 2.5) / 3 = 3 -> [1(1), 3(3)], sum 1 + 9 = 10
        digest = inserted([1.0, 2.0, 3.0, 4.0], max_size=2)
        assert centroids(digest) == [(1.0, 1.0), (3.0, 3.0)]
        assert (digest.sum, digest.count, digest.min, digest.max) == (10.0, 4.0, 1.0, 4.0)
        # p50: rank 2 lands in centroid 1 (t=1, last): 3 + ((2 - 1) / 3 - 0.5) * (3 - 1) = 8/3
        assert digest.estimate_quantile(0.5) == pytest.approx(8 / 3, abs=1e-12)

    def test_batch_merge_by_hand(self) -> None:
        # One merge of 1..4 with max_size 2: limit 0.5*4 = 2, so 2 joins 1 -> (1.5, 2);
        # 3 starts the next (limit now 1.0*4 = 4) and 4 joins it -> (3.5, 2); sum 3 + 7.
        digest = TDigest(2).merge_unsorted([4.0, 2.0, 3.0, 1.0])
        assert centroids(digest) == [(1.5, 2.0), (3.5, 2.0)]
        assert digest.sum == 10.0

    def test_more_values_than_max_size_are_compressed(self) -> None:
        values = [float(v) for v in range(1, 1001)]
        digest = inserted(values, max_size=10)
        assert len(digest.means) <= 10
        assert sum(digest.weights) == 1000.0
        assert digest.estimate_quantile(0.0) == 1.0
        assert digest.estimate_quantile(1.0) == 1000.0
        assert digest.estimate_quantile(0.5) == pytest.approx(500.5, rel=0.05)
        assert digest.means == sorted(digest.means)


class TestMergeDigests:
    def test_reuses_first_limit_like_the_crate(self) -> None:
        # Four one-value digests, max_size 2, count 4: limit k_to_q(1)*4 = 2 so 2 joins 1
        # -> (1.5, 2). The crate computes the next limit before incrementing k, so it is
        # k_to_q(1)*4 = 2 again: 3 stays alone, then limit k_to_q(2)*4 = 4 and 4 starts
        # the last centroid (a correct k would have merged 3 and 4). Sum 3 + 3 + 4.
        parts = [inserted([value], max_size=2) for value in (3.0, 1.0, 4.0, 2.0)]
        digest = TDigest.merge_digests(parts)
        assert centroids(digest) == [(1.5, 2.0), (3.0, 1.0), (4.0, 1.0)]
        assert (digest.sum, digest.count, digest.min, digest.max) == (10.0, 4.0, 1.0, 4.0)

    def test_skips_empty_digests(self) -> None:
        digest = TDigest.merge_digests([TDigest(), inserted([2.0, 5.0]), TDigest()])
        assert centroids(digest) == [(2.0, 1.0), (5.0, 1.0)]
        assert (digest.min, digest.max, digest.count) == (2.0, 5.0, 2.0)

    def test_all_empty_gives_default(self) -> None:
        digest = TDigest.merge_digests([TDigest(7), TDigest(7)])
        assert digest.is_empty() and digest.max_size == 100 and math.isnan(digest.min)

    def test_from_parts_recompresses_oversized(self) -> None:
        means = [float(v) for v in range(150)]
        digest = TDigest.from_parts(
            means, [1.0] * 150, sum=sum(means), count=150.0, max=149.0, min=0.0, max_size=100
        )
        assert len(digest.means) <= 100
        assert digest.count == 150.0 and (digest.min, digest.max) == (0.0, 149.0)


class TestWire:
    def test_empty_digest_writes_nan_as_zero(self) -> None:
        assert TDigest().to_wire() == {
            "centroids": [],
            "max_size": 100,
            "sum": 0.0,
            "count": 0.0,
            "max": 0.0,
            "min": 0.0,
        }

    def test_loaded_empty_digest_behaves_like_a_fresh_one(self) -> None:
        loaded = TDigest.from_wire(json.loads(json.dumps(TDigest().to_wire())))
        loaded.insert(4.0)
        assert bits(loaded) == bits(inserted([4.0]))

    def test_null_floats_read_as_zero(self) -> None:
        data: dict[str, Any] = {"centroids": [], "max_size": 100, "sum": 0.0, "count": 0.0}
        data |= {"max": None, "min": None}
        digest = TDigest.from_wire(data)
        assert (digest.min, digest.max) == (0.0, 0.0)

    def test_round_trip(self) -> None:
        digest = inserted([float(v % 17) for v in range(500)])
        again = TDigest.from_wire(json.loads(json.dumps(digest.to_wire())))
        assert bits(again) == bits(digest)


def test_sample_digests_take_new_values_like_the_crate(sample_accumulators: dict[str, Any]) -> None:
    """Fast path == general path starting from every digest NeMo Relay wrote."""
    for node in sample_accumulators["nodes"].values():
        for field, stats in node.items():
            per_index = stats.values() if not field.startswith("all_") else [stats]
            for entry in per_index:
                fast = TDigest.from_wire(entry["digest"])
                slow = TDigest.from_wire(entry["digest"])
                for value in (0.0, 3.0, 150.0, 0.5, 3.0, 1e9):
                    fast.insert(value)
                    slow = slow.merge_unsorted([value])
                assert bits(fast) == bits(slow)


finite = st.floats(min_value=-1e300, max_value=1e300)
"""Large but never overflowing: NaN sums are outside the supported domain."""
small_ints = st.integers(min_value=-5, max_value=5).map(float)
signed_zeros_and_tiny = st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e-300, 0.5])
values_strategy = st.lists(st.one_of(finite, small_ints, signed_zeros_and_tiny), max_size=250)


@settings(max_examples=150, deadline=None)
@given(values=values_strategy, max_size=st.sampled_from([1, 2, 3, 5, 10, 100]))
def test_insert_equals_crate_merge(values: list[float], max_size: int) -> None:
    assert bits(inserted(values, max_size)) == bits(merged_one_by_one(values, max_size))


@settings(max_examples=75, deadline=None)
@given(
    seed=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=400),
    values=st.lists(st.floats(-1e6, 1e6), max_size=60),
    max_size=st.sampled_from([3, 10, 100]),
)
def test_insert_equals_crate_merge_after_batch(
    seed: list[float], values: list[float], max_size: int
) -> None:
    """Starting from a batch-built digest (weights > 1), both paths still agree bit for bit."""
    fast = TDigest(max_size).merge_unsorted(seed)
    slow = fast.copy()
    for value in values:
        fast.insert(value)
        slow = slow.merge_unsorted([value])
    assert bits(fast) == bits(slow)
