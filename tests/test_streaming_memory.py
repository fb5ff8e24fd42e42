"""Reading and run assembly stream: their memory does not grow with trace length."""

import io
import json
import tracemalloc
import uuid
from collections.abc import Iterator

from adaptive.drain import RunAccumulator
from adaptive.events.atof import ReadReport, iter_events


def synthetic_trace(runs: int) -> Iterator[bytes]:
    """A trace of ``runs`` sequential runs, generated lazily line by line."""
    for index in range(runs):
        root, tool = str(uuid.uuid4()), str(uuid.uuid4())
        for category, phase, name, scope, parent in [
            ("agent", "start", "a", root, None),
            ("tool", "start", "search", tool, root),
            ("tool", "end", "search", tool, root),
            ("agent", "end", "a", root, None),
        ]:
            yield json.dumps(
                {
                    "kind": "scope",
                    "scope_category": phase,
                    "category": category,
                    "name": name,
                    "uuid": scope,
                    "parent_uuid": parent,
                    "timestamp": f"2026-11-23T21:14:03.{index % 1000:03d}000000Z",
                    "data": {"payload": "x" * 200},
                }
            ).encode()


def peak_bytes(runs: int) -> int:
    accumulator = RunAccumulator("a")
    tracemalloc.start()
    completed = 0
    for event in iter_events(synthetic_trace(runs), ReadReport()):
        if accumulator.process(event) is not None:
            completed += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert completed == runs
    assert accumulator.open_run_count == 0
    return peak


def test_peak_memory_does_not_grow_with_trace_length() -> None:
    small, large = peak_bytes(500), peak_bytes(5_000)
    assert large < small * 1.5 + 64_000, (small, large)


def test_file_reader_streams_from_an_open_file() -> None:
    data = b"\n".join(synthetic_trace(3)) + b"\n"
    report = ReadReport()
    events = iter_events(io.BytesIO(data), report)
    next(events)
    assert report.lines == 1
