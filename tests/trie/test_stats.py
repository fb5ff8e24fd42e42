"""RunningStats: Welford updates and merges checked against hand-computed values."""

from __future__ import annotations

import pytest

from adaptive.trie.models import PredictionMetrics
from adaptive.trie.stats import RunningStats
from adaptive.trie.tdigest import TDigest


def stats_of(values: list[float]) -> RunningStats:
    stats = RunningStats()
    for value in values:
        stats.add_sample(value)
    return stats


def test_welford_mean_and_m2() -> None:
    # Mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32.
    stats = stats_of([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert stats.count == 8
    assert stats.mean == pytest.approx(5.0, abs=1e-12)
    assert stats.m2 == pytest.approx(32.0, abs=1e-12)
    assert stats.digest.count == 8.0


def test_merge_combines_mean_and_m2() -> None:
    # 1..6: mean 3.5, m2 = 2 * (2.5^2 + 1.5^2 + 0.5^2) = 17.5
    left = stats_of([1.0, 2.0, 3.0])
    right = stats_of([4.0, 5.0, 6.0])
    expected_digest = TDigest.merge_digests([left.digest, right.digest])
    left.merge(right)
    assert left.count == 6
    assert left.mean == pytest.approx(3.5, abs=1e-12)
    assert left.m2 == pytest.approx(17.5, abs=1e-12)
    assert left.digest == expected_digest
    assert right.count == 3  # the other side is left alone


def test_merge_with_empty_is_a_no_op() -> None:
    stats = stats_of([1.0, 2.0])
    before = stats.copy()
    stats.merge(RunningStats())
    assert stats == before


def test_merge_into_empty_takes_the_other() -> None:
    stats = RunningStats()
    stats.merge(stats_of([10.0, 20.0, 30.0]))
    assert (stats.count, stats.mean) == (3, 20.0)
    assert stats.m2 == pytest.approx(200.0, abs=1e-12)


def test_metrics_of_nothing_are_zero() -> None:
    assert RunningStats().compute_metrics() == PredictionMetrics(
        sample_count=0, mean=0.0, p50=0.0, p90=0.0, p95=0.0
    )


def test_metrics_use_digest_quantiles() -> None:
    # Two singleton centroids (10, 30); see the two-value t-digest test for the formulas:
    # p50 = 30 - 0.5*20 = 20, p90 = 30 + 0.3*20 -> clamped 30, p95 likewise 30.
    metrics = stats_of([30.0, 10.0]).compute_metrics()
    assert metrics == PredictionMetrics(sample_count=2, mean=20.0, p50=20.0, p90=30.0, p95=30.0)


def test_wire_round_trip() -> None:
    stats = stats_of([1.5, 2.5, 9.0])
    again = RunningStats.from_wire(stats.to_wire())
    assert again == stats
    assert set(stats.to_wire()) == {"count", "mean", "m2", "digest"}
    assert isinstance(stats.to_wire()["count"], int)
