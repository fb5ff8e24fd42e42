"""Streaming reader for ATOF JSONL traces.

A trace may be gigabytes and may contain damaged lines (a crashed exporter, a
truncated copy). The reader yields one event at a time, never holds more than
the current line, and turns every bad line into a counted, numbered skip.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from adaptive.events.model import Event, EventKind

KNOWN_KINDS = frozenset(kind.value for kind in EventKind)


class SkipReason(StrEnum):
    """Why a line of a trace was not turned into an event."""

    MALFORMED_JSON = "malformed_json"
    INVALID_EVENT = "invalid_event"
    UNKNOWN_KIND = "unknown_kind"


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
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    examples: list[SkippedLine] = field(default_factory=list)

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
    for line_number, line in enumerate(lines, start=1):
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
            report.record_skip(line_number, SkipReason.UNKNOWN_KIND, f"kind {event.kind!r}")
            continue
        report.events += 1
        yield event


def read_events(source: str | Path | BinaryIO, report: ReadReport) -> Iterator[Event]:
    """Stream events from a path, ``"-"`` (standard input) or a binary file."""
    if isinstance(source, str | Path):
        if str(source) == "-":
            yield from iter_events(sys.stdin.buffer, report)
            return
        with open(source, "rb") as handle:
            yield from iter_events(handle, report)
        return
    yield from iter_events(source, report)
