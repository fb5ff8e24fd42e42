"""Hostile input, end to end through ``adaptive ingest`` on SQLite, PostgreSQL and Redis.

Each case breaks one thing on purpose. Whatever the input, every backend must
keep the same runs and learn the same state (their exports are compared), the
summary must count every skipped or repaired item by cause, the exit code and
the one-line message must say what happened, and stderr must stay short.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hostile import traces
from tests.parity import IDENTITY_KEYS, assert_json_close
from tests.traces import replicated_trace, write_trace

ROOT = Path(__file__).resolve().parents[2]
MAX_STDERR_LINES = 40
BACKENDS = ("sqlite", "postgresql", "redis")


@dataclass
class Ingested:
    code: int
    stdout: str
    stderr: str
    export: dict[str, Any] | None

    def count(self, label: str) -> int:
        """A number from the summary table, by its row label."""
        for line in self.stdout.splitlines():
            cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
            if len(cells) == 2 and cells[0] == label.strip():
                return int(cells[1].replace(",", ""))
        raise AssertionError(f"no {label!r} row in:\n{self.stdout}")

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def adaptive(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adaptive.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def ingest(trace: Path, backend: str, tmp_path: Path, *extra: str) -> Ingested:
    export = tmp_path / f"export-{abs(hash((backend, str(trace))))}.json"
    export.unlink(missing_ok=True)
    done = adaptive(
        "ingest",
        str(trace),
        "--backend",
        backend,
        "--export",
        str(export),
        *extra,
        tmp_path=tmp_path,
    )
    state = json.loads(export.read_text()) if export.exists() else None
    return Ingested(done.returncode, done.stdout, done.stderr, state)


@pytest.fixture
def backends(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """A fresh SQLite file, PostgreSQL database and Redis prefix."""
    yield {
        "sqlite": request.getfixturevalue("sqlite_url"),
        "postgresql": request.getfixturevalue("fresh_postgres_url"),
        "redis": request.getfixturevalue("redis_url"),
    }


def ingest_everywhere(
    trace: Path, backends: dict[str, str], tmp_path: Path, *extra: str
) -> dict[str, Ingested]:
    results = {kind: ingest(trace, url, tmp_path, *extra) for kind, url in backends.items()}
    for kind, result in results.items():
        assert len(result.stderr.splitlines()) <= MAX_STDERR_LINES, (kind, result.stderr)
        assert "Traceback" not in result.stderr, (kind, result.stderr)
    return results


def assert_same_everywhere(results: dict[str, Ingested]) -> dict[str, Any]:
    """Every backend kept the same runs and learned the same state."""
    exports = {kind: result.export for kind, result in results.items()}
    reference = exports["sqlite"]
    assert reference is not None
    for kind, export in exports.items():
        assert export is not None, kind
        assert_json_close(export, reference, ignore=IDENTITY_KEYS)
    return reference


def runs_of(export: dict[str, Any]) -> list[dict[str, Any]]:
    return [value for key, value in export.items() if key.startswith("runs:")]


# -- the cases ----------------------------------------------------------------


def test_a_flood_of_never_ending_starts(backends: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "small.toml"
    config.write_text("[drain]\nmax_open_runs = 500\n")
    trace = traces.write_jsonl(tmp_path / "flood.jsonl", traces.flooded(2_000))
    results = ingest_everywhere(trace, backends, tmp_path, "--config", str(config))
    for result in results.values():
        assert result.code == 0, result.stderr
        assert result.count("runs stored") == 40
        abandoned, left_open = result.count("abandoned_run"), result.count("runs left open")
        assert abandoned + left_open == 2_000 and left_open <= 500 < abandoned
        lines = [line for line in result.stderr.splitlines() if "abandoned_run" in line]
        assert len(result.stderr.splitlines()) <= 3, result.stderr  # first one, then the count
        assert lines == [
            f"WARNING adaptive.drain: abandoned_run: {abandoned - 1} more time(s) since it was "
            f"last logged ({abandoned} in all)"
        ]
    assert len(runs_of(assert_same_everywhere(results))) == 40


def test_nul_in_prompts_is_kept_on_every_backend(backends: dict[str, str], tmp_path: Path) -> None:
    trace = traces.write_jsonl(tmp_path / "nul.jsonl", traces.edited(traces.with_nul_in_prompts))
    results = ingest_everywhere(trace, backends, tmp_path, "--agent-id", "planner")
    for result in results.values():
        assert result.code == 0, result.stderr
        assert result.count("runs stored") == 40
    export = assert_same_everywhere(results)
    prompts = [
        call["annotated_request"]["messages"][-1]["content"]
        for run in runs_of(export)
        for call in run["calls"]
        if call["kind"] == "llm"
    ]
    assert prompts and all("\u0000" in prompt for prompt in prompts)
    observations = [value for key, value in export.items() if key.startswith("acg_observations:")]
    assert any("\\u0000" in json.dumps(window) for window in observations)


def test_nul_in_agent_and_tool_names_is_kept_on_every_backend(
    backends: dict[str, str], tmp_path: Path
) -> None:
    trace = traces.write_jsonl(tmp_path / "nul.jsonl", traces.edited(traces.with_nul_in_names))
    results = ingest_everywhere(trace, backends, tmp_path)
    for result in results.values():
        assert result.code == 0, result.stderr
        assert result.count("runs stored") == 40
    export = assert_same_everywhere(results)
    assert "plan:plan\u0000ner" in export
    tools = {call["name"] for run in runs_of(export) for call in run["calls"]}
    assert "sea\u0000rch" in tools
    listed = adaptive("runs", "list", "--backend", backends["postgresql"], tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr


def test_numbers_that_are_not_token_counts_are_dropped_and_counted(
    backends: dict[str, str], tmp_path: Path
) -> None:
    events = traces.with_bad_token_counts(traces.sample_events())
    trace = traces.write_with_raw_numbers(tmp_path / "numbers.jsonl", events)
    results = ingest_everywhere(trace, backends, tmp_path, "--agent-id", "planner")
    for result in results.values():
        assert result.code == 0, result.stderr
        assert result.count("runs stored") == 40
        assert result.count("numbers dropped (invalid_number)") == len(traces.BAD_TOKEN_COUNTS)
    export = assert_same_everywhere(results)
    totals = [
        call.get("total_tokens")
        for run in runs_of(export)
        for call in run["calls"]
        if call["kind"] == "llm"
    ]
    assert totals.count(None) == len(traces.BAD_TOKEN_COUNTS)
    assert all(isinstance(total, int) and total >= 0 for total in totals if total is not None)


def test_a_gzip_trace_is_read_like_the_plain_one(backends: dict[str, str], tmp_path: Path) -> None:
    trace = traces.gzipped(traces.SAMPLE_TRACE, tmp_path / "trace.jsonl.gz")
    results = ingest_everywhere(trace, backends, tmp_path, "--agent-id", "planner")
    for result in results.values():
        assert result.code == 0, result.stderr
        assert result.count("runs stored") == 40
        assert result.count("lines skipped") == 0
    plain = ingest(traces.SAMPLE_TRACE, "memory://", tmp_path, "--agent-id", "planner")
    assert plain.export is not None
    assert_json_close(assert_same_everywhere(results), plain.export, ignore=IDENTITY_KEYS)


def test_a_truncated_gzip_trace_stores_what_was_complete(tmp_path: Path, sqlite_url: str) -> None:
    whole = traces.gzipped(traces.SAMPLE_TRACE, tmp_path / "whole.gz").read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    result = ingest(cut, sqlite_url, tmp_path, "--agent-id", "planner")
    assert result.code == 0, result.stderr
    assert result.count("  corrupt_gzip") == 1
    assert 0 < result.count("runs stored") < 40


def test_random_bytes_exit_2_with_one_line(tmp_path: Path, sqlite_url: str) -> None:
    trace = traces.random_bytes(tmp_path / "noise.bin")
    result = ingest(trace, sqlite_url, tmp_path)
    assert result.code == 2
    (line,) = result.error_lines
    assert "no ATOF events in" in line and "malformed_json" in line
    assert len(result.stderr.splitlines()) <= MAX_STDERR_LINES


def test_runs_the_backend_rejects_exit_1(tmp_path: Path) -> None:
    database = tmp_path / "rejecting.db"
    url = f"sqlite:///{database}"
    assert adaptive("db", "upgrade", "--backend", url, tmp_path=tmp_path).returncode == 0
    with sqlite3.connect(database) as connection:
        connection.execute(
            "CREATE TRIGGER reject BEFORE INSERT ON runs BEGIN "
            "SELECT RAISE(ABORT, 'rejected by a test trigger'); END"
        )
    result = ingest(traces.SAMPLE_TRACE, url, tmp_path, "--agent-id", "planner")
    assert result.code == 1
    assert result.count("runs rejected") == 40
    (line,) = result.error_lines
    assert "0 of 40 run(s) stored" in line and "40 rejected" in line
    assert len(result.stderr.splitlines()) <= MAX_STDERR_LINES


@pytest.mark.parametrize("agent_id", ["a" * 20_000, "line one\nline two\r\n\tend"])
def test_hostile_agent_ids_are_stored_and_quoted_in_errors(
    agent_id: str, backends: dict[str, str], tmp_path: Path
) -> None:
    trace = traces.write_jsonl(
        tmp_path / "ids.jsonl", traces.edited(traces.with_hostile_agent_id(agent_id))
    )
    results = ingest_everywhere(trace, backends, tmp_path)
    for result in results.values():
        assert result.code == 0, result.stderr
        assert result.count("runs stored") == 40
    assert f"plan:{agent_id}" in assert_same_everywhere(results)
    for url in backends.values():
        missing = adaptive("runs", "list", "--backend", url, "--agent-id", "x", tmp_path=tmp_path)
        assert missing.returncode == 2
        (line,) = [line for line in missing.stderr.splitlines() if line.startswith("error:")]
        assert len(line) < 400 and "stored agents: '" in line


def test_a_directory_is_named_as_one(tmp_path: Path, sqlite_url: str) -> None:
    result = ingest(tmp_path, sqlite_url, tmp_path)
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"error: trace path {tmp_path} is a directory; give an ATOF JSONL file (plain or .gz), "
        "or - for standard input"
    ]


@pytest.mark.parametrize("command", [["ingest", str(traces.SAMPLE_TRACE)], ["state", "export"]])
def test_a_sqlite_path_under_a_file_is_one_line(command: list[str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    done = adaptive(*command, "--backend", f"sqlite:///{blocker}/x.db", tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: cannot create the SQLite database {blocker}/x.db: "
        "a path above it is a file, not a directory"
    ]


def test_a_sqlite_path_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    done = adaptive(
        "state", "export", "--backend", "sqlite:////proc/adaptive/x.db", tmp_path=tmp_path
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: cannot create the directory /proc/adaptive for the SQLite")


def test_exporting_an_agent_with_nothing_stored_is_an_error(
    tmp_path: Path, sqlite_url: str
) -> None:
    empty = adaptive("state", "export", "--backend", sqlite_url, tmp_path=tmp_path)
    assert empty.returncode == 2 and empty.stdout == ""
    assert "holds no runs or state yet" in empty.stderr
    ingest(traces.SAMPLE_TRACE, sqlite_url, tmp_path, "--agent-id", "planner")
    other = adaptive(
        "state", "export", "--backend", sqlite_url, "--agent-id", "plannr", tmp_path=tmp_path
    )
    assert other.returncode == 2 and other.stdout == ""
    assert other.stderr.splitlines() == [
        "error: no runs or state stored for agent 'plannr'; stored agents: 'planner'"
    ]


def in_tiny_filesystem(
    size: str, directory: Path, *command: str
) -> subprocess.CompletedProcess[str]:
    """``command`` with a ``size`` tmpfs mounted on ``directory``, in a mount namespace of its own.

    ``unshare --map-root-user`` lets an unprivileged user mount it too; the
    filesystem disappears with the process, so nothing is left to clean up.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("the disk-full test needs util-linux's unshare (apt-get install util-linux)")
    directory.mkdir(exist_ok=True)
    script = f'mount -t tmpfs -o size={size} tmpfs "{directory}" && exec "$@"'
    return subprocess.run(
        [unshare, "--mount", "--map-root-user", "sh", "-c", script, "sh", *command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_a_full_disk_ends_the_ingest_with_what_was_stored(tmp_path: Path) -> None:
    trace = write_trace(replicated_trace(5), tmp_path / "200-runs.jsonl")
    config = tmp_path / "small-units.toml"
    config.write_text("[drain]\nbatch_size = 8\nmax_batch_size = 8\n")
    disk = tmp_path / "disk"
    done = in_tiny_filesystem(
        "1200k",
        disk,
        sys.executable, "-m", "adaptive.cli", "ingest", str(trace),
        "--backend", f"sqlite:///{disk}/adaptive.db", "--config", str(config),
        "--agent-id", "planner", "--max-outage", "1",
    )  # fmt: skip
    result = Ingested(done.returncode, done.stdout, done.stderr, None)
    assert result.code == 1, result.stderr
    stored, not_stored = (
        result.count("runs stored"),
        result.count("runs not stored (storage unavailable)"),
    )
    assert 0 < stored < 200 and not_stored > 0
    (line,) = result.error_lines
    assert line.startswith(f"error: {stored} of ") and "database or disk is full" in line
    assert len(result.stderr.splitlines()) <= MAX_STDERR_LINES


def test_the_same_trace_under_another_agent_is_stored_again_on_every_backend(
    backends: dict[str, str], tmp_path: Path
) -> None:
    """A run is one run per agent (NeMo Relay's runs:{agent}:{id}), on every backend."""
    for agent, stored, already in (("planner", 40, 0), ("other", 40, 0), ("other", 0, 40)):
        results = ingest_everywhere(traces.SAMPLE_TRACE, backends, tmp_path, "--agent-id", agent)
        for result in results.values():
            assert result.code == 0, result.stderr
            assert result.count("runs stored") == stored
            assert result.count("runs already stored") == already
    assert_same_everywhere(results)
    for url in backends.values():
        exported = adaptive("state", "export", "--backend", url, tmp_path=tmp_path)
        export = json.loads(exported.stdout)
        assert len(export["runs_index:planner"]) == len(export["runs_index:other"]) == 40
