"""Streaming reader for ATOF JSONL traces.

A trace may be gigabytes and may contain damaged lines (a crashed exporter, a
truncated copy). The reader yields one event at a time, never holds more than
the current line, and turns every bad line into a counted, numbered skip.

Gzip-compressed traces (``trace.jsonl.gz``, or any file or standard input
starting with gzip's magic bytes) are read transparently; a truncated or
corrupt gzip stream ends the read with a counted ``corrupt_gzip`` skip.

Numbers JSON cannot carry — ``NaN``, ``Infinity``, ``-Infinity`` and
literals too large for a double such as ``1e999`` — are replaced by ``null``
wherever they appear in an event and counted as ``invalid_number``: they
would otherwise be stored by one backend and rejected by another, and no
NeMo Relay process could read them back.
"""

from __future__ import annotations

import gzip
import math
import re
import sys
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, Final

from pydantic import ValidationError

from adaptive.errors import quoted
from adaptive.events.model import Event, EventKind

KNOWN_KINDS = frozenset(kind.value for kind in EventKind)
GZIP_MAGIC: Final = b"\x1f\x8b"
MAYBE_NON_FINITE: Final = re.compile(rb"NaN|Infinity|[eE]\+?[0-9]{3}")
"""Cheap test of a raw line: only lines that match are searched for non-finite numbers."""


class SkipReason(StrEnum):
    """Why a line of a trace was not turned into an event."""

    MALFORMED_JSON = "malformed_json"
    INVALID_EVENT = "invalid_event"
    UNKNOWN_KIND = "unknown_kind"
    CORRUPT_GZIP = "corrupt_gzip"


@dataclass(frozen=True, slots=True)
class SkippedLine:
    """One skipped line, with enough detail to find and fix it."""

    line_number: int
    reason: SkipReason
    detail: str


@dataclass
class ReadReport:
    """What a reader saw: line and event counts, and every skip counted.

    Only the first ``max_examples`` skips are kept with details, so a trace
    that is entirely garbage still costs constant memory.
    """

    max_examples: int = 100
    lines: int = 0
    events: int = 0
    gzip: bool = False
    """Whether the trace was gzip-compressed."""
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    examples: list[SkippedLine] = field(default_factory=list)
    invalid_numbers: int = 0
    """Non-finite numbers replaced by ``null`` in events that were kept."""

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def record_skip(self, line_number: int, reason: SkipReason, detail: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(SkippedLine(line_number, reason, detail[:500]))


def parse_event_line(line: bytes | str) -> Event:
    """Parse one JSONL line; raises ``ValidationError`` with pydantic's detail."""
    return Event.model_validate_json(line)


def _describe_validation_error(error: ValidationError) -> tuple[SkipReason, str]:
    first = error.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return SkipReason.MALFORMED_JSON, str(first["msg"])
    location = ".".join(str(part) for part in first["loc"]) or "<event>"
    return SkipReason.INVALID_EVENT, f"{location}: {first['msg']}"


def iter_events(lines: Iterable[bytes | str], report: ReadReport) -> Iterator[Event]:
    """Yield the valid events of an iterable of JSONL lines, counting the rest."""
    line_number = 0
    numbered = iter(lines)
    while True:
        try:
            line = next(numbered)
        except StopIteration:
            return
        except (OSError, EOFError, zlib.error) as error:  # a gzip stream cut short
            report.record_skip(line_number + 1, SkipReason.CORRUPT_GZIP, str(error))
            return
        line_number += 1
        report.lines += 1
        if not line.strip():
            continue
        try:
            event = parse_event_line(line)
        except ValidationError as error:
            reason, detail = _describe_validation_error(error)
            report.record_skip(line_number, reason, detail)
            continue
        if event.kind not in KNOWN_KINDS:
            report.record_skip(line_number, SkipReason.UNKNOWN_KIND, f"kind {quoted(event.kind)}")
            continue
        if MAYBE_NON_FINITE.search(line.encode() if isinstance(line, str) else line):
            report.invalid_numbers += _null_non_finite_numbers(event)
        report.events += 1
        yield event


def _null_non_finite_numbers(event: Event) -> int:
    """Replace NaN and infinities in the event's JSON values with ``None``; how many."""
    replaced = 0
    for name in ("metadata", "data", "category_profile"):
        value, count = _without_non_finite(getattr(event, name))
        if count:
            setattr(event, name, value)
            replaced += count
    extra = event.__pydantic_extra__ or {}
    for name, value in list(extra.items()):
        extra[name], count = _without_non_finite(value)
        replaced += count
    return replaced


def _without_non_finite(value: Any) -> tuple[Any, int]:
    if isinstance(value, float):
        return (value, 0) if math.isfinite(value) else (None, 1)
    if isinstance(value, dict):
        replaced = 0
        for key, item in value.items():
            value[key], count = _without_non_finite(item)
            replaced += count
        return value, replaced
    if isinstance(value, list):
        replaced = 0
        for index, item in enumerate(value):
            value[index], count = _without_non_finite(item)
            replaced += count
        return value, replaced
    return value, 0


def read_events(source: str | Path | BinaryIO, report: ReadReport) -> Iterator[Event]:
    """Stream events from a path, ``"-"`` (standard input) or a binary file; gzip or not."""
    if isinstance(source, str | Path):
        if str(source) == "-":
            yield from iter_events(decompressed(sys.stdin.buffer, report), report)
            return
        with open(source, "rb") as handle:
            yield from iter_events(decompressed(handle, report), report)
        return
    yield from iter_events(decompressed(source, report), report)


def decompressed(handle: BinaryIO, report: ReadReport) -> Iterable[bytes]:
    """The handle itself, or a gzip reader over it when it starts with gzip's magic bytes."""
    peek = getattr(handle, "peek", None)
    head = peek(2)[:2] if callable(peek) else b""
    if head != GZIP_MAGIC:
        return handle
    report.gzip = True
    return gzip.GzipFile(fileobj=handle, mode="rb")
