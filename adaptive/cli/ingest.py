"""Batch ingest of an ATOF trace: read, learn, store, summarize.

Shared by ``adaptive ingest`` and ``benchmarks/ingest.py`` so that the
benchmark measures exactly what the command does.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from adaptive.config import AdaptiveConfig
from adaptive.drain import DrainStats
from adaptive.errors import one_line
from adaptive.events.atof import ReadReport, decompressed, iter_events, read_events
from adaptive.events.model import Event
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.export import export_state

BATCH_GC_THRESHOLDS = (20_000, 10, 10)
PROGRESS_EVERY_LINES = 1_000
"""How often the progress callback hears of the bytes read: rarely enough to cost nothing."""

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes of the trace read so far."""


EXIT_OK: Final = 0
EXIT_RUNS_LOST: Final = 1
"""Some runs were rejected by the backend or could not be stored."""
EXIT_NOTHING_READ: Final = 2
"""The input held no usable event (or the command could not start)."""


@dataclass
class IngestSummary:
    """What one ingest did, for the command's report and for tests."""

    report: ReadReport
    stats: DrainStats
    dropped: dict[str, int]
    open_runs: int
    seconds: float
    invalid_numbers: int = 0
    """Numbers dropped from events and calls (non-finite, or token counts out of range)."""
    gave_up: str | None = None
    """The storage error the ingest gave up on, if it did."""
    state: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def events_per_second(self) -> float:
        return self.report.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0: all read runs stored; 1: runs rejected or not stored; 2: nothing usable read."""
        if self.report.events == 0:
            return EXIT_NOTHING_READ
        if self.stats.runs_rejected or self.stats.runs_not_stored:
            return EXIT_RUNS_LOST
        return EXIT_OK

    def outcome(self, source: str) -> str | None:
        """One line saying what went wrong, or ``None`` when nothing did."""
        report = self.report
        if self.exit_code == EXIT_NOTHING_READ:
            kind = "gzip-compressed trace" if report.gzip else "trace"
            if report.lines == 0 and not report.skipped_total:
                return f"no ATOF events in {source}: the {kind} is empty"
            reasons = ", ".join(
                f"{count:,} {reason.value}" for reason, count in sorted(report.skipped.items())
            )
            return (
                f"no ATOF events in {source}: {report.lines:,} line(s) read, "
                f"{report.skipped_total:,} skipped ({reasons or 'blank'}); "
                "is it an ATOF JSONL trace (optionally gzip-compressed)?"
            )
        if self.exit_code == EXIT_RUNS_LOST:
            stats = self.stats
            parts = []
            if stats.runs_rejected:
                parts.append(f"{stats.runs_rejected:,} rejected by the backend")
            if stats.runs_not_stored:
                parts.append(
                    f"{stats.runs_not_stored:,} not stored because storage stayed unavailable "
                    f"({self.gave_up})"
                )
            return (
                f"{stats.runs_stored:,} of {stats.runs_completed:,} run(s) stored; "
                + "; ".join(parts)
                + " (ingest is idempotent: run it again once the cause is fixed)"
            )
        return None


@contextmanager
def batch_gc_thresholds() -> Iterator[None]:
    """Collect young garbage less often while a batch ingest runs, then restore.

    A trace's events are parsed into many short-lived containers; CPython's
    default gen-0 threshold (700) makes the collector run every few events,
    which costs about a tenth of ingest time. Only the batch command does
    this; a runtime embedded in an application leaves the GC settings alone.
    """
    saved = gc.get_threshold()
    gc.set_threshold(*BATCH_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def _lines_counting_bytes(
    lines: Iterable[bytes], handle: BinaryIO, progress: ProgressCallback
) -> Iterator[bytes]:
    """The lines, telling ``progress`` every so many lines how far into the file the read got.

    The position is the file's own (``tell``), so a gzip trace's bar follows
    its compressed size.
    """
    for number, line in enumerate(lines, start=1):
        if number % PROGRESS_EVERY_LINES == 0:
            progress(handle.tell())
        yield line
    progress(handle.tell())


def _events(
    source: str | Path | BinaryIO, report: ReadReport, progress: ProgressCallback | None
) -> Iterator[Event]:
    """The trace's events; with ``progress``, a file's read position is reported as it goes."""
    if progress is None or str(source) == "-" or not isinstance(source, str | Path):
        yield from read_events(source, report)
        return
    with open(source, "rb") as handle:
        lines = _lines_counting_bytes(decompressed(handle, report), handle, progress)
        yield from iter_events(lines, report)


async def ingest(
    source: str | Path | BinaryIO,
    config: AdaptiveConfig,
    *,
    export: bool = False,
    progress: ProgressCallback | None = None,
) -> IngestSummary:
    """Stream a trace into a runtime built from ``config`` and wait until all is stored.

    With ``export``, the state export (``adaptive state export`` shape) is
    taken before the runtime closes, so even the memory backend can be checked.
    ``progress`` (files only) hears how many bytes were read, for a progress bar.
    """
    report = ReadReport()
    started = time.perf_counter()
    runtime = AdaptiveRuntime(config)
    drain = runtime.drain
    async with runtime:
        for event in _events(source, report, progress):
            await runtime.emit(event)
            if drain.gave_up is not None:
                break  # storage stayed down too long: stop reading, report what was stored
        await runtime.wait_for_idle()
        state = await export_state(runtime.backend, config.agent_id) if export else None
    accumulator = drain.accumulator
    return IngestSummary(
        report=report,
        stats=drain.stats,
        dropped={reason.value: count for reason, count in accumulator.dropped.items()},
        open_runs=accumulator.open_run_count,
        seconds=time.perf_counter() - started,
        invalid_numbers=report.invalid_numbers + sum(accumulator.invalid.values()),
        gave_up=None if drain.gave_up is None else one_line(drain.gave_up),
        state=state,
    )
