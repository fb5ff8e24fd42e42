"""What each cache decision saved, per call and summed per model and per tool.

A ``CacheDecision`` is one call's record: it becomes the ``response_cache``
mark (NeMo Relay's metadata keys, plus ours under ``adaptive.response_cache.*``)
and, later, one row of SQL analytics. ``CacheSavings`` sums decisions and
counts the failures that made a call run uncached.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

logger = logging.getLogger(__name__)

MARK_NAME = "response_cache"
NEMO_PREFIX = "nemo_relay.response_cache."
OUR_PREFIX = "adaptive.response_cache."


class CacheStatus(StrEnum):
    HIT = "hit"
    MISS = "miss"
    BYPASS = "bypass"


@dataclass(slots=True)
class CacheDecision:
    """One cache decision: the mark's payload and the future SQL row."""

    status: CacheStatus
    surface: str
    """``llm`` or ``tool``."""
    backend: str
    name: str
    """The model (LLM calls; the provider name when the request names none) or the tool."""
    reason: str | None = None
    key_hash: str | None = None
    ttl_ms: int | None = None
    age_ms: int | None = None
    saved_tokens: int | None = None
    saved_cost_usd: float | None = None
    saved_invocations: int | None = None
    saved_latency_ms: float | None = None
    """Ours: how long the call that produced the entry took."""
    coalesced: bool = False
    """Ours: served by a concurrent identical call (single-flight), not by a stored entry."""

    def mark_data(self) -> dict[str, Any]:
        return {"status": self.status.value}

    def mark_metadata(self) -> dict[str, Any]:
        """NeMo Relay's attributes, in its names, then ours."""
        metadata: dict[str, Any] = {
            f"{NEMO_PREFIX}surface": self.surface,
            f"{NEMO_PREFIX}backend": self.backend,
        }
        for name in ("reason", "key_hash", "age_ms", "ttl_ms", "saved_tokens", "saved_cost_usd",
                     "saved_invocations"):  # fmt: skip
            value = getattr(self, name)
            if value is not None:
                metadata[f"{NEMO_PREFIX}{name}"] = value
        metadata[f"{OUR_PREFIX}name"] = self.name
        if self.saved_latency_ms is not None:
            metadata[f"{OUR_PREFIX}saved_latency_ms"] = round(self.saved_latency_ms, 3)
        if self.coalesced:
            metadata[f"{OUR_PREFIX}coalesced"] = True
        return metadata

    def as_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["status"] = self.status.value
        return record


@dataclass(slots=True)
class SavingsTotals:
    hits: int = 0
    misses: int = 0
    bypasses: int = 0
    coalesced: int = 0
    saved_tokens: int = 0
    saved_cost_usd: float = 0.0
    saved_invocations: int = 0
    saved_latency_ms: float = 0.0

    def add(self, decision: CacheDecision) -> None:
        if decision.status is CacheStatus.HIT:
            self.hits += 1
            self.coalesced += int(decision.coalesced)
            self.saved_tokens += decision.saved_tokens or 0
            self.saved_cost_usd += decision.saved_cost_usd or 0.0
            self.saved_invocations += decision.saved_invocations or 0
            self.saved_latency_ms += decision.saved_latency_ms or 0.0
        elif decision.status is CacheStatus.MISS:
            self.misses += 1
        else:
            self.bypasses += 1


@dataclass
class CacheSavings:
    """Totals per ``(surface, name)`` and failure counts per cause, for one cache."""

    totals: dict[tuple[str, str], SavingsTotals] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)

    def record(self, decision: CacheDecision) -> None:
        key = (decision.surface, decision.name)
        totals = self.totals.get(key)
        if totals is None:  # not ``setdefault``: that would build a SavingsTotals every call
            totals = self.totals[key] = SavingsTotals()
        totals.add(decision)

    def failed(self, cause: str, detail: object) -> None:
        """Count a fail-open cause; the first of each cause is logged, the rest only counted."""
        if self.failures[cause] == 0:
            logger.warning(
                "response cache: %s (%s); the call ran uncached. Later occurrences are counted "
                "in CacheSavings.failures, not logged.",
                cause,
                detail,
            )
        self.failures[cause] += 1

    def total(self) -> SavingsTotals:
        summed = SavingsTotals()
        for totals in self.totals.values():
            for name, value in asdict(totals).items():
                setattr(summed, name, getattr(summed, name) + value)
        return summed

    def snapshot(self) -> dict[str, Any]:
        return {
            "by_name": {
                f"{surface}:{name}": asdict(totals)
                for (surface, name), totals in sorted(self.totals.items())
            },
            "total": asdict(self.total()),
            "failures": dict(self.failures),
        }


def usage_tokens(response: Any) -> int | None:
    """Tokens a reuse saved: ``total_tokens``, or prompt+completion, or input+output."""
    if not isinstance(response, dict):
        return None
    usage = response.get("usage") or response.get("token_usage")
    if not isinstance(usage, dict):
        return None
    for pair in (("total_tokens",), ("prompt_tokens", "completion_tokens"),
                 ("input_tokens", "output_tokens")):  # fmt: skip
        values = [usage.get(name) for name in pair]
        if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            return sum(values)  # type: ignore[arg-type]
    return None


def reported_cost(response: Any) -> float | None:
    """A provider-reported cost on the stored body (NeMo Relay's first source of cost)."""
    if not isinstance(response, dict):
        return None
    usage = response.get("usage")
    candidates = []
    if isinstance(usage, dict):
        cost = usage.get("cost")
        candidates += [usage.get("cost_usd"), cost.get("total") if isinstance(cost, dict) else None]
    candidates.append(response.get("cost_usd"))
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None
