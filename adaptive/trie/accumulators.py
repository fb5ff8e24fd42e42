"""Stored learning state of the prediction trie (``accumulators:{agent}``).

NeMo Relay and this package resume each other's learning from this JSON, so
it must load and dump the Rust ``AccumulatorState`` layout exactly. The
containers are pydantic models for that boundary, while the per-metric
``RunningStats`` stay plain objects that the learner mutates in place (no
validation on the hot path).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pydantic_core
from pydantic import Field, PlainSerializer, PlainValidator, WithJsonSchema

from adaptive.trie.stats import RunningStats
from adaptive.trie.tdigest import TDigest
from adaptive.wire import WireModel


def _stats_from_wire(value: Any) -> RunningStats:
    if isinstance(value, RunningStats):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"expected RunningStats JSON object, got {type(value).__name__}")
    return RunningStats.from_wire(value)


def _stats_to_wire(stats: RunningStats) -> dict[str, Any]:
    return stats.to_wire()


WireRunningStats = Annotated[
    RunningStats,
    PlainValidator(_stats_from_wire),
    PlainSerializer(_stats_to_wire, return_type=dict),
    WithJsonSchema({"type": "object", "required": ["count", "mean", "m2", "digest"]}),
]
"""A ``RunningStats`` that reads and writes the Rust serde object."""

StatsByCallIndex = dict[int, WireRunningStats]
"""Per-call-index stats; serde's ``HashMap<u32, _>`` writes the keys as strings."""


def _stats_map_to_wire(stats_by_index: dict[int, RunningStats]) -> dict[str, Any]:
    return {str(index): stats.to_wire() for index, stats in sorted(stats_by_index.items())}


def _exact_digest_key(digest: TDigest) -> tuple[Any, ...]:
    """Bit-exact identity of a digest (``float.hex`` tells -0.0 from 0.0, keeps NaN)."""
    return (
        digest.max_size,
        *(value.hex() for value in (digest.sum, digest.count, digest.min, digest.max)),
        tuple(value.hex() for value in digest.means),
        tuple(value.hex() for value in digest.weights),
    )


def _copy_map(stats_by_index: dict[int, RunningStats]) -> dict[int, RunningStats]:
    return {index: stats.copy() for index, stats in stats_by_index.items()}


def _with_extras(wire: dict[str, Any], model: WireModel) -> dict[str, Any]:
    """Fields a newer NeMo Relay wrote that this version does not know are written back."""
    extras = model.__pydantic_extra__
    if extras:
        wire.update(pydantic_core.to_jsonable_python(extras))
    return wire


class NodeAccumulators(WireModel):
    """Every metric's running stats at one trie node, per call index and overall."""

    remaining_calls: StatsByCallIndex = Field(default_factory=dict)
    interarrival_ms: StatsByCallIndex = Field(default_factory=dict)
    output_tokens: StatsByCallIndex = Field(default_factory=dict)
    sensitivity: StatsByCallIndex = Field(default_factory=dict)
    all_remaining_calls: WireRunningStats = Field(default_factory=RunningStats)
    all_interarrival_ms: WireRunningStats = Field(default_factory=RunningStats)
    all_output_tokens: WireRunningStats = Field(default_factory=RunningStats)
    all_sensitivity: WireRunningStats = Field(default_factory=RunningStats)

    def to_wire(self) -> dict[str, Any]:
        """Same JSON as ``model_dump(mode="json")``, built directly (several times faster)."""
        wire: dict[str, Any] = {
            "remaining_calls": _stats_map_to_wire(self.remaining_calls),
            "interarrival_ms": _stats_map_to_wire(self.interarrival_ms),
            "output_tokens": _stats_map_to_wire(self.output_tokens),
            "sensitivity": _stats_map_to_wire(self.sensitivity),
            "all_remaining_calls": self.all_remaining_calls.to_wire(),
            "all_interarrival_ms": self.all_interarrival_ms.to_wire(),
            "all_output_tokens": self.all_output_tokens.to_wire(),
            "all_sensitivity": self.all_sensitivity.to_wire(),
        }
        return _with_extras(wire, self)

    def iter_stats(self) -> Iterator[RunningStats]:
        for stats_by_index in (
            self.remaining_calls,
            self.interarrival_ms,
            self.output_tokens,
            self.sensitivity,
        ):
            yield from stats_by_index.values()
        yield self.all_remaining_calls
        yield self.all_interarrival_ms
        yield self.all_output_tokens
        yield self.all_sensitivity

    def clone(self) -> NodeAccumulators:
        """An independent copy, so learning never mutates state a backend handed out."""
        return NodeAccumulators.model_construct(
            _fields_set=self.model_fields_set,
            remaining_calls=_copy_map(self.remaining_calls),
            interarrival_ms=_copy_map(self.interarrival_ms),
            output_tokens=_copy_map(self.output_tokens),
            sensitivity=_copy_map(self.sensitivity),
            all_remaining_calls=self.all_remaining_calls.copy(),
            all_interarrival_ms=self.all_interarrival_ms.copy(),
            all_output_tokens=self.all_output_tokens.copy(),
            all_sensitivity=self.all_sensitivity.copy(),
            **(self.__pydantic_extra__ or {}),
        )


class AccumulatorState(WireModel):
    """Node accumulators keyed by ``/``-joined path ("" is the root)."""

    nodes: dict[str, NodeAccumulators] = Field(default_factory=dict)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> AccumulatorState:
        """Load the JSON object NeMo Relay stores, sharing equal digests.

        Paths that always learn the same values (the root and a single LLM
        name) hold equal digests; sharing the objects lets the learner merge
        each value once for all of them.
        """
        state = cls.model_validate(data)
        state.share_equal_digests()
        return state

    def share_equal_digests(self) -> None:
        """Make stats whose digests are exactly equal point at one digest object."""
        seen: dict[tuple[Any, ...], TDigest] = {}
        for node in self.nodes.values():
            for stats in node.iter_stats():
                key = _exact_digest_key(stats.digest)
                stats.digest = seen.setdefault(key, stats.digest)

    @classmethod
    def from_wire_json(cls, text: str | bytes) -> AccumulatorState:
        return cls.from_wire(pydantic_core.from_json(text))

    def to_wire(self) -> dict[str, Any]:
        """Same JSON as ``model_dump(mode="json")``, built directly (several times faster)."""
        wire = {"nodes": {path: node.to_wire() for path, node in self.nodes.items()}}
        return _with_extras(wire, self)

    def to_wire_json(self) -> str:
        return pydantic_core.to_json(self.to_wire()).decode()

    def clone(self) -> AccumulatorState:
        """An independent copy, so learning never mutates state a backend handed out."""
        return AccumulatorState.model_construct(
            _fields_set=self.model_fields_set,
            nodes={path: node.clone() for path, node in self.nodes.items()},
            **(self.__pydantic_extra__ or {}),
        )

    def node(self, path_key: str) -> NodeAccumulators:
        """The accumulators at ``path_key``, created empty on first use."""
        found = self.nodes.get(path_key)
        if found is None:
            found = self.nodes[path_key] = NodeAccumulators()
        return found
