import json
from pathlib import Path

from adaptive.cli.app import app
from tests.cli_runs import ingest_sample_into_memory, runner
from tests.factories import SAMPLE_TRACE


def test_ingest_prints_summary_and_exports_state(tmp_path: Path) -> None:
    result, state = ingest_sample_into_memory(tmp_path)
    assert "events read" in result.output and "576" in result.output
    assert "runs stored" in result.output
    assert len(state["runs_index:planner"]) == 40
    assert {"plan:planner", "trie:planner", "accumulators:planner"} <= state.keys()
    assert "acg_stability:planner" in state


def test_ingest_with_selected_learners(tmp_path: Path) -> None:
    out = tmp_path / "state.json"
    result = runner.invoke(
        app,
        [
            "ingest",
            str(SAMPLE_TRACE),
            "--agent-id",
            "planner",
            "--learners",
            "tool_parallelism",
            "--export",
            str(out),
        ],
        env={"ADAPTIVE_BACKEND": "memory://"},
    )
    assert result.exit_code == 0, result.output
    state = json.loads(out.read_text())
    assert "plan:planner" in state
    assert "trie:planner" not in state and "acg_stability:planner" not in state


def test_ingest_reports_bad_lines_with_numbers(tmp_path: Path) -> None:
    trace = tmp_path / "bad.jsonl"
    lines = SAMPLE_TRACE.read_text().splitlines()[:10]
    lines.insert(2, "{broken")
    trace.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["ingest", str(trace), "--backend", "memory://"])
    assert result.exit_code == 0, result.output
    assert "malformed_json" in result.output
    assert "line 3: malformed_json" in result.output


def test_ingest_from_stdin() -> None:
    result = runner.invoke(
        app,
        ["ingest", "-", "--backend", "memory://", "--agent-id", "planner"],
        input=SAMPLE_TRACE.read_text(),
    )
    assert result.exit_code == 0, result.output
    assert "576" in result.output


def test_missing_trace_and_unknown_backend_fail_with_exit_code_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2
    assert "trace file not found" in result.output
    result = runner.invoke(app, ["ingest", str(SAMPLE_TRACE), "--backend", "mysql://x"])
    assert result.exit_code == 2
    assert "unknown backend URL scheme" in result.output
    result = runner.invoke(app, ["ingest", str(SAMPLE_TRACE), "--learners", "nope"])
    assert result.exit_code == 2
    assert "unknown learner" in result.output


def test_state_export_of_an_empty_backend_says_so() -> None:
    result = runner.invoke(app, ["state", "export", "--backend", "memory://"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "holds no runs or state yet" in result.stderr


def test_db_commands_migrate_a_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    history = runner.invoke(app, ["db", "history"])
    assert history.exit_code == 0, history.output
    assert "(head)" in history.output
    upgraded = runner.invoke(app, ["db", "upgrade", "--backend", url])
    assert upgraded.exit_code == 0, upgraded.output
    current = runner.invoke(app, ["db", "current", "--backend", url])
    assert "up to date" in current.output
    downgraded = runner.invoke(app, ["db", "downgrade", "base", "--backend", url])
    assert downgraded.exit_code == 0, downgraded.output
    assert "base (empty)" in downgraded.output
    current = runner.invoke(app, ["db", "current", "--backend", url])
    assert "behind head" in current.output and "adaptive db upgrade" in current.output


def test_db_commands_need_a_sql_backend() -> None:
    result = runner.invoke(app, ["db", "upgrade", "--backend", "memory://"])
    assert result.exit_code == 2
    assert "no schema to migrate" in result.output


def test_ingest_into_postgres_behind_head_names_the_upgrade_command(
    empty_postgres_url: str,
) -> None:
    result = runner.invoke(app, ["ingest", str(SAMPLE_TRACE), "--backend", empty_postgres_url])
    assert result.exit_code == 2
    assert "adaptive db upgrade --backend" in result.output
    upgraded = runner.invoke(app, ["db", "upgrade", "--backend", empty_postgres_url])
    assert upgraded.exit_code == 0, upgraded.output
    result = runner.invoke(app, ["ingest", str(SAMPLE_TRACE), "--backend", empty_postgres_url])
    assert result.exit_code == 0, result.output
