"""Batch ingest of an ATOF trace: read, learn, store, summarize.

Shared by ``adaptive ingest`` and ``benchmarks/ingest.py`` so that the
benchmark measures exactly what the command does.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from adaptive.config import AdaptiveConfig
from adaptive.drain import DrainStats
from adaptive.events.atof import ReadReport, iter_events, read_events
from adaptive.events.model import Event
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.export import export_state

BATCH_GC_THRESHOLDS = (20_000, 10, 10)
PROGRESS_EVERY_LINES = 1_000
"""How often the progress callback hears of the bytes read: rarely enough to cost nothing."""

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes of the trace read so far."""


@dataclass
class IngestSummary:
    """What one ingest did, for the command's report and for tests."""

    report: ReadReport
    stats: DrainStats
    dropped: dict[str, int]
    open_runs: int
    seconds: float
    state: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def events_per_second(self) -> float:
        return self.report.events / self.seconds if self.seconds > 0 else 0.0


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


def _lines_counting_bytes(handle: BinaryIO, progress: ProgressCallback) -> Iterator[bytes]:
    """The file's lines, telling ``progress`` every so many lines how far the read got."""
    done = 0
    for number, line in enumerate(handle, start=1):
        done += len(line)
        if number % PROGRESS_EVERY_LINES == 0:
            progress(done)
        yield line
    progress(done)


def _events(
    source: str | Path | BinaryIO, report: ReadReport, progress: ProgressCallback | None
) -> Iterator[Event]:
    """The trace's events; with ``progress``, a file's read position is reported as it goes."""
    if progress is None or str(source) == "-" or not isinstance(source, str | Path):
        yield from read_events(source, report)
        return
    with open(source, "rb") as handle:
        yield from iter_events(_lines_counting_bytes(handle, progress), report)


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
    async with runtime:
        for event in _events(source, report, progress):
            await runtime.emit(event)
        await runtime.wait_for_idle()
        state = await export_state(runtime.backend, config.agent_id) if export else None
    accumulator = runtime.drain.accumulator
    return IngestSummary(
        report=report,
        stats=runtime.drain.stats,
        dropped={reason.value: count for reason, count in accumulator.dropped.items()},
        open_runs=accumulator.open_run_count,
        seconds=time.perf_counter() - started,
        state=state,
    )
