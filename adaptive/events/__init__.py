"""Event input: the ATOF event model and the JSONL reader."""

from adaptive.events.atof import ReadReport, SkippedLine, SkipReason, iter_events, read_events
from adaptive.events.model import Event, EventKind, ScopeCategory, ScopeType

__all__ = [
    "Event",
    "EventKind",
    "ReadReport",
    "ScopeCategory",
    "ScopeType",
    "SkipReason",
    "SkippedLine",
    "iter_events",
    "read_events",
]
