import gzip
import io
import json
from typing import Any

from adaptive.events import ReadReport, SkipReason, iter_events, read_events
from tests.factories import SAMPLE_TRACE

GOOD = json.dumps(
    {
        "kind": "scope",
        "scope_category": "start",
        "category": "agent",
        "name": "planner",
        "uuid": "01a20a42-3f7b-7aa0-a534-61f150386890",
        "parent_uuid": None,
        "timestamp": "2026-11-23T21:14:03.515874059+00:00",
        "future_field": {"kept": True},
    }
)


def test_sample_trace_reads_every_line() -> None:
    report = ReadReport()
    events = list(read_events(SAMPLE_TRACE, report))
    assert report.lines == 576
    assert report.events == len(events) == 576
    assert report.skipped_total == 0
    assert events[3].annotated_request is not None
    assert events[3].annotated_request["model"] == "gpt-x"


def test_bad_lines_are_counted_with_line_numbers_and_reading_continues() -> None:
    lines = [
        GOOD,
        "{not json",
        json.dumps({"kind": "scope", "uuid": "nope", "timestamp": "2026-11-23T21:14:03Z"}),
        json.dumps({"kind": "scope", "uuid": 5}),
        "[1, 2]",
        json.dumps({**json.loads(GOOD), "kind": "metric"}),
        "",
        json.dumps({**json.loads(GOOD), "timestamp": "yesterday"}),
        GOOD,
    ]
    report = ReadReport()
    events = list(iter_events(lines, report))
    assert len(events) == 2
    assert report.lines == 9
    assert report.skipped == {
        SkipReason.MALFORMED_JSON: 1,
        SkipReason.INVALID_EVENT: 4,
        SkipReason.UNKNOWN_KIND: 1,
    }
    assert [skip.line_number for skip in report.examples] == [2, 3, 4, 5, 6, 8]
    assert "uuid" in report.examples[1].detail
    assert "timestamp" in report.examples[5].detail


def test_unknown_fields_are_kept() -> None:
    (event,) = iter_events([GOOD], ReadReport())
    assert event.model_extra == {"future_field": {"kept": True}}


def test_examples_are_capped_but_counts_are_not() -> None:
    report = ReadReport(max_examples=3)
    list(iter_events(["x"] * 50, report))
    assert report.skipped[SkipReason.MALFORMED_JSON] == 50
    assert len(report.examples) == 3


def test_huge_payload_line_is_read() -> None:
    big = json.loads(GOOD)
    big["data"] = "x" * 5_000_000
    report = ReadReport()
    events = list(read_events(io.BytesIO(json.dumps(big).encode() + b"\n"), report))
    assert len(events) == 1
    assert len(events[0].data) == 5_000_000


def test_reader_is_lazy() -> None:
    def endless():  # type: ignore[no-untyped-def]
        while True:
            yield GOOD

    report = ReadReport()
    stream = iter_events(endless(), report)
    for _ in range(3):
        next(stream)
    assert report.lines == 3


def test_non_finite_numbers_become_null_and_are_counted() -> None:
    line = GOOD[:-1] + ', "data": {"a": NaN, "b": [Infinity, -Infinity, 1e999, 1.5e3, 7]}}'
    report = ReadReport()
    (event,) = iter_events([line.encode()], report)
    assert event.data == {"a": None, "b": [None, None, None, 1500.0, 7]}
    assert report.invalid_numbers == 4 and report.skipped_total == 0


def test_a_finite_line_is_not_walked() -> None:
    report = ReadReport()
    (event,) = iter_events([GOOD.encode()], report)
    assert report.invalid_numbers == 0 and event.model_extra == {"future_field": {"kept": True}}


def test_gzip_input_is_read_transparently_from_a_file_and_a_stream(tmp_path: Any) -> None:
    compressed = gzip.compress(SAMPLE_TRACE.read_bytes())
    path = tmp_path / "trace.jsonl.gz"
    path.write_bytes(compressed)
    from_file, from_stream = ReadReport(), ReadReport()
    assert len(list(read_events(path, from_file))) == 576
    assert len(list(read_events(io.BufferedReader(io.BytesIO(compressed)), from_stream))) == 576
    assert from_file.gzip and from_stream.gzip and from_file.skipped_total == 0


def test_a_truncated_gzip_stream_ends_with_a_counted_skip(tmp_path: Any) -> None:
    compressed = gzip.compress(SAMPLE_TRACE.read_bytes())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    report = ReadReport()
    events = list(read_events(path, report))
    assert 0 < len(events) < 576
    assert report.skipped[SkipReason.CORRUPT_GZIP] == 1
