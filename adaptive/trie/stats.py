"""Streaming statistics for one metric: Welford mean/variance plus a t-digest.

The trie learner must fold every finished run into stored state without
keeping raw samples, and NeMo Relay reads the same state, so this mirrors the
Rust ``RunningStats`` update order exactly.
"""

from __future__ import annotations

import math
from typing import Any

from adaptive.trie.models import PredictionMetrics
from adaptive.trie.tdigest import DEFAULT_MAX_SIZE, TDigest

JsonObject = dict[str, Any]


EMPTY_DIGEST = TDigest(DEFAULT_MAX_SIZE)
"""Shared empty digest; safe to share because ``RunningStats`` never mutates digests."""

DigestMemo = dict[tuple[int, float, float], tuple[TDigest, TDigest]]
"""(id of digest, value, sign of value) → (that digest, kept alive; the merged digest)."""


def _digest_with(digest: TDigest, value: float, memo: DigestMemo | None) -> TDigest:
    key = (id(digest), value, math.copysign(1.0, value))
    if memo is not None:
        known = memo.get(key)
        if known is not None:
            return known[1]
    merged = digest.copy()
    merged.insert(value)
    if memo is not None:
        memo[key] = (digest, merged)
    return merged


class RunningStats:
    """Count, Welford mean and M2, and a percentile digest of one metric."""

    __slots__ = ("count", "digest", "m2", "mean")

    def __init__(
        self,
        count: int = 0,
        mean: float = 0.0,
        m2: float = 0.0,
        digest: TDigest | None = None,
    ) -> None:
        self.count = count
        self.mean = mean
        self.m2 = m2
        self.digest = digest if digest is not None else EMPTY_DIGEST

    def has_samples(self) -> bool:
        return self.count > 0

    def add_sample(self, value: float, memo: DigestMemo | None = None) -> None:
        """Welford update, then the digest's single-value merge.

        Digests are never changed in place: the stats get a new digest, so
        two stats may share one. With a ``memo``, stats that share a digest
        and receive the same value (the root and a single-name path in a
        trie always do) compute the merge once.
        """
        count = self.count + 1
        self.count = count
        delta = value - self.mean
        mean = self.mean + delta / count
        self.mean = mean
        self.m2 += delta * (value - mean)
        self.digest = _digest_with(self.digest, value, memo)

    def merge(self, other: RunningStats) -> None:
        """Parallel Welford merge (Chan et al.) and a digest merge; no-op for an empty ``other``."""
        if other.count == 0:
            return
        combined = self.count + other.count
        delta = other.mean - self.mean
        self.mean = (self.mean * self.count + other.mean * other.count) / combined
        self.m2 += other.m2 + delta * delta * float(self.count * other.count) / combined
        self.count = combined
        self.digest = TDigest.merge_digests([self.digest, other.digest])

    def compute_metrics(self) -> PredictionMetrics:
        """Mean and digest percentiles; all zeros when nothing was observed."""
        if self.count == 0:
            return PredictionMetrics()
        digest = self.digest
        return PredictionMetrics.model_construct(
            sample_count=self.count,
            mean=self.mean,
            p50=digest.estimate_quantile(0.50),
            p90=digest.estimate_quantile(0.90),
            p95=digest.estimate_quantile(0.95),
        )

    def copy(self) -> RunningStats:
        """Independent stats; the digest is shared because it is never changed in place."""
        return RunningStats(self.count, self.mean, self.m2, self.digest)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunningStats):
            return NotImplemented
        return (
            self.count == other.count
            and self.mean == other.mean
            and self.m2 == other.m2
            and self.digest == other.digest
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RunningStats(count={self.count}, mean={self.mean}, m2={self.m2}, {self.digest!r})"

    def to_wire(self) -> JsonObject:
        return {
            "count": self.count,
            "mean": self.mean,
            "m2": self.m2,
            "digest": self.digest.to_wire(),
        }

    @classmethod
    def from_wire(cls, data: JsonObject) -> RunningStats:
        return cls(
            count=int(data["count"]),
            mean=float(data["mean"]),
            m2=float(data["m2"]),
            digest=TDigest.from_wire(data["digest"]),
        )
