"""Values ↔ the JSON NeMo Relay stores, with caches that skip repeated decoding.

Every unit of work reads the same few values again: the agent's accumulators
(tens of kB) and the ACG windows it touches (up to 100 observations, hundreds
of kB each), and then writes them back changed. Decoding and encoding them is
most of what storage costs, so:

* a decoded value is kept with the exact bytes it came from (or was written
  as); a read that returns the same bytes reuses the object, and any other
  writer's change shows up as different bytes, so the cache is never stale;
* an observation never changes once written (its ``ir_id`` is a fresh uuid4),
  so windows are encoded from, and decoded into, per-observation caches: a
  window that moved by one observation costs one observation.

Cached objects are shared, never copied: like every backend's loaded state
they are read-only (learners build new objects instead of editing them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

import pydantic_core
from pydantic import ValidationError

from adaptive.acg import PromptIR, StabilityAnalysisResult
from adaptive.errors import StorageError
from adaptive.plan import ExecutionPlan
from adaptive.records import RunRecord
from adaptive.storage.lru import LruCache
from adaptive.storage.redis.errors import short
from adaptive.trie import AccumulatorState, TrieEnvelope

S = TypeVar("S")

MAX_VALUE_BYTES: Final = 512 * 1024 * 1024
"""Redis's largest string (``proto-max-bulk-len``); a larger write would drop the connection."""
VALUES_CACHE_BYTES: Final = 64 * 1024 * 1024
OBSERVATIONS_CAPACITY: Final = 4096


@dataclass(frozen=True)
class ValueKind(Generic[S]):
    """One kind of stored value: what to call it in messages, and its JSON codec."""

    name: str
    decode: Callable[[bytes], S]
    encode: Callable[[S], bytes]


def _wire_bytes(value: Any) -> bytes:
    text: str = value.to_wire_json()
    return text.encode()


PLAN: Final = ValueKind("execution plan", ExecutionPlan.model_validate_json, _wire_bytes)
TRIE: Final = ValueKind("trie envelope", TrieEnvelope.model_validate_json, _wire_bytes)
ACCUMULATORS: Final = ValueKind("accumulator state", AccumulatorState.from_wire_json, _wire_bytes)
STABILITY: Final = ValueKind(
    "stability result", StabilityAnalysisResult.model_validate_json, _wire_bytes
)


@dataclass(frozen=True)
class _Decoded:
    raw: bytes
    value: object


class Codec:
    """Decodes and encodes stored values, remembering what it saw (see module docstring)."""

    def __init__(self) -> None:
        self._values: LruCache[str, _Decoded] = LruCache(
            VALUES_CACHE_BYTES, lambda decoded: len(decoded.raw) + 200
        )
        self._observations: LruCache[str, PromptIR] = LruCache(OBSERVATIONS_CAPACITY)
        self._encoded_observations: LruCache[str, bytes] = LruCache(OBSERVATIONS_CAPACITY)

    # -- single values ---------------------------------------------------------

    def decode(self, key: str, raw: bytes | None, kind: ValueKind[S]) -> S | None:
        return self._decode(key, raw, kind.name, kind.decode)

    def decode_window(self, key: str, raw: bytes | None) -> list[PromptIR] | None:
        return self._decode(key, raw, "ACG observation window", self._window_from_json)

    def _decode(
        self, key: str, raw: bytes | None, name: str, decode: Callable[[bytes], S]
    ) -> S | None:
        if raw is None:
            self._values.discard(key)
            return None
        cached = self._values.get(key)
        if cached is not None and cached.raw == raw:
            value: S = cached.value  # type: ignore[assignment]
            return value
        try:
            value = decode(raw)
        except (ValidationError, ValueError) as error:
            raise StorageError(
                f"redis key {short(key)} does not hold a valid {name}: {error}"
            ) from error
        self.remember(key, raw, value)
        return value

    def remember(self, key: str, raw: bytes, value: object) -> None:
        """Keep a value as read or as just committed."""
        self._values.put(key, _Decoded(raw, value))

    # -- observation windows ----------------------------------------------------

    def _window_from_json(self, raw: bytes) -> list[PromptIR]:
        items = pydantic_core.from_json(raw)
        if not isinstance(items, list):
            raise ValueError("expected a JSON array of PromptIR")
        return [self._observation(item) for item in items]

    def _observation(self, item: Any) -> PromptIR:
        ir_id = item.get("ir_id") if isinstance(item, dict) else None
        cached = self._observations.get(ir_id) if isinstance(ir_id, str) else None
        if cached is not None:
            return cached
        observation = PromptIR.model_validate(item)
        self._observations.put(
            ir_id if isinstance(ir_id, str) else str(observation.ir_id), observation
        )
        return observation

    def encode_window(self, window: list[PromptIR]) -> bytes:
        return b"[" + b",".join(self._encoded(observation) for observation in window) + b"]"

    def _encoded(self, observation: PromptIR) -> bytes:
        ir_id = str(observation.ir_id)
        encoded = self._encoded_observations.get(ir_id)
        if encoded is None:
            encoded = observation.to_wire_json().encode()
            self._encoded_observations.put(ir_id, encoded)
            self._observations.put(ir_id, observation)
        return encoded


def decode_run(key: str, raw: bytes) -> RunRecord:
    try:
        return RunRecord.model_validate_json(raw)
    except ValidationError as error:
        raise StorageError(
            f"redis key {short(key)} does not hold a valid run record: {error}"
        ) from error


def encode_run(run: RunRecord) -> bytes:
    return run.to_wire_json().encode()


def check_size(key: str, value: bytes) -> None:
    """Refuse a value Redis would refuse by dropping the connection (an endless retry)."""
    if len(value) > MAX_VALUE_BYTES:
        raise StorageError(
            f"value for redis key {short(key)} is {len(value):,} bytes, more than Redis's "
            f"{MAX_VALUE_BYTES:,}-byte limit for one string"
        )
