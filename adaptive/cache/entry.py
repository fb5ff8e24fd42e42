"""A stored answer, in NeMo Relay 0.10.4's ``CacheEntry`` JSON so both runtimes read it.

NeMo Relay's entry is ``{response, created_unix_ms, expires_unix_ms, key_hash,
model_name, provider_name}``. We add two fields it ignores when it reads the
entry: ``x_adaptive_chunks`` (a streamed answer's chunks, replayed in order)
and ``x_adaptive_latency_ms`` (how long the call took, the latency a hit saves).
A tool result is stored as ``{"$schema": TOOL_RESULT_SCHEMA, "result", "annotation"}``.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass
from typing import Any

from adaptive.errors import AdaptiveError

TOOL_RESULT_SCHEMA = "nemo.relay.ResponseCacheToolResult@1"
COMPRESSED_MAGIC = b"\xffzl1"
"""Prefix of a compressed value: 0xff is never UTF-8, so NeMo Relay reads it as a miss."""
ENTRY_OVERHEAD_BYTES = 256


class EntryDecodeError(AdaptiveError):
    """A stored value is not a cache entry (corrupt, foreign or from a newer schema)."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class CacheEntry:
    response: Any
    created_unix_ms: int
    expires_unix_ms: int
    key_hash: str
    model_name: str | None = None
    provider_name: str | None = None
    chunks: list[Any] | None = None
    latency_ms: float | None = None
    saved: tuple[int | None, float | None] | None = None
    """Tokens and cost a reuse saves, worked out once per entry (not serialized)."""

    @classmethod
    def fresh(
        cls,
        response: Any,
        *,
        key_hash: str,
        ttl_ms: int,
        model_name: str | None = None,
        provider_name: str | None = None,
        chunks: list[Any] | None = None,
        latency_ms: float | None = None,
    ) -> CacheEntry:
        created = now_ms()
        return cls(
            response, created, created + ttl_ms, key_hash, model_name, provider_name, chunks,
            latency_ms,
        )  # fmt: skip

    def is_expired(self, at_ms: int | None = None) -> bool:
        return (now_ms() if at_ms is None else at_ms) >= self.expires_unix_ms

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "response": self.response,
            "created_unix_ms": self.created_unix_ms,
            "expires_unix_ms": self.expires_unix_ms,
            "key_hash": self.key_hash,
            "model_name": self.model_name,
            "provider_name": self.provider_name,
        }
        if self.chunks is not None:
            wire["x_adaptive_chunks"] = self.chunks
        if self.latency_ms is not None:
            wire["x_adaptive_latency_ms"] = self.latency_ms
        return wire

    def encode(self, compress_min_bytes: int | None = None) -> bytes:
        """Compact JSON, zlib-compressed behind ``COMPRESSED_MAGIC`` when large enough."""
        raw = json.dumps(self.to_wire(), separators=(",", ":"), ensure_ascii=False).encode()
        if compress_min_bytes is not None and len(raw) >= compress_min_bytes:
            return COMPRESSED_MAGIC + zlib.compress(raw, 6)
        return raw

    @classmethod
    def decode(cls, value: bytes | str) -> CacheEntry:
        try:
            if isinstance(value, bytes) and value.startswith(COMPRESSED_MAGIC):
                value = zlib.decompress(value[len(COMPRESSED_MAGIC) :])
            wire = json.loads(value)
            return cls(
                response=wire["response"],
                created_unix_ms=_int(wire["created_unix_ms"]),
                expires_unix_ms=_int(wire["expires_unix_ms"]),
                key_hash=str(wire["key_hash"]),
                model_name=wire.get("model_name"),
                provider_name=wire.get("provider_name"),
                chunks=wire.get("x_adaptive_chunks"),
                latency_ms=wire.get("x_adaptive_latency_ms"),
            )
        except (ValueError, KeyError, TypeError, zlib.error, UnicodeDecodeError) as error:
            raise EntryDecodeError(f"undecodable cache entry: {error}") from error


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer timestamp, got {value!r}")
    return value


def encode_tool_result(result: Any, annotation: Any) -> dict[str, Any]:
    return {"$schema": TOOL_RESULT_SCHEMA, "result": result, "annotation": annotation}


def decode_tool_result(stored: Any) -> tuple[Any, Any]:
    """``(result, annotation)``; a value without the schema tag is a bare result."""
    if (
        isinstance(stored, dict)
        and stored.get("$schema") == TOOL_RESULT_SCHEMA
        and "result" in stored
    ):
        return stored["result"], stored.get("annotation")
    return stored, None
