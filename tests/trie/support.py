"""Helpers for comparing JSON trees and building hand-made runs."""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID

from adaptive.records import CallKind, CallRecord, RunRecord

BASE_NS = 1_800_000_000 * 1_000_000_000
"""A whole second, so offsets below map to known whole-second span times."""
MS = 1_000_000
SECOND = 1_000_000_000


def assert_json_close(actual: Any, expected: Any, *, rel: float = 1e-9, path: str = "$") -> None:
    """Same keys and list lengths, equal ints/strings/None, floats within ``rel``."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected object, got {actual!r}"
        assert set(actual) == set(expected), f"{path}: keys differ {set(actual) ^ set(expected)}"
        for key, value in expected.items():
            assert_json_close(actual[key], value, rel=rel, path=f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected array, got {actual!r}"
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            assert_json_close(got, want, rel=rel, path=f"{path}[{index}]")
    elif isinstance(expected, float):
        assert isinstance(actual, int | float) and not isinstance(actual, bool), path
        assert math.isclose(actual, expected, rel_tol=rel, abs_tol=0.0), (
            f"{path}: {actual!r} != {expected!r}"
        )
    else:
        assert type(actual) is type(expected) and actual == expected, (
            f"{path}: {actual!r} != {expected!r}"
        )


def call(
    name: str,
    start_ms: float,
    end_ms: float | None,
    *,
    kind: CallKind = CallKind.LLM,
    output_tokens: int | None = None,
) -> CallRecord:
    """A call whose times are milliseconds after ``BASE_NS`` (fractions allowed)."""
    return CallRecord(
        kind=kind,
        name=name,
        started_at=BASE_NS + round(start_ms * MS),
        ended_at=None if end_ms is None else BASE_NS + round(end_ms * MS),
        output_tokens=output_tokens,
    )


def run(calls: list[CallRecord], *, end_ms: float | None, start_ms: float = 0.0) -> RunRecord:
    return RunRecord(
        id=UUID(int=len(calls) + 1),
        agent_id="agent",
        calls=calls,
        started_at=BASE_NS + round(start_ms * MS),
        ended_at=None if end_ms is None else BASE_NS + round(end_ms * MS),
    )
