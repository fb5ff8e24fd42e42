"""``adaptive runs list|show``, ``plan show`` and ``hints show`` on every backend and format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from adaptive.cli.app import app
from adaptive.cli.inspection import CallRow, PredictionRow, RunSummary
from adaptive.events.replicate import replicated_events
from adaptive.trie import TrieEnvelope, compute_default_hints
from tests.cli_runs import runner
from tests.cli_support import (
    BACKEND_KINDS,
    backend_args,
    ingest_sample,
    invoke,
    invoke_failing,
    invoke_json,
)
from tests.factories import SAMPLE_TRACE, load_sample_state

SAMPLE_RUNS = 40


@pytest.fixture(params=BACKEND_KINDS)
def sample_backend(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """Options naming a backend of each kind holding the sample trace, learned as ``planner``."""
    backend = backend_args(request, request.param, tmp_path)
    ingest_sample(backend)
    return backend


@pytest.fixture
def sqlite_sample(sqlite_url: str) -> list[str]:
    backend = ["--backend", sqlite_url]
    ingest_sample(backend)
    return backend


def sample_default_hints() -> dict[str, object]:
    trie = TrieEnvelope.model_validate(load_sample_state()["trie:planner"])
    hints = compute_default_hints(trie.root, 5)
    assert hints is not None
    return hints.to_wire()


def test_every_backend_shows_the_same_runs_plan_and_hints(sample_backend: list[str]) -> None:
    runs = invoke_json("runs", "list", *sample_backend, "--limit", "100", "--format", "json")
    assert len(runs) == SAMPLE_RUNS
    assert all(run["status"] == "completed" and run["llm_calls"] >= 1 for run in runs)

    shown = invoke_json("runs", "show", runs[0]["run_id"], *sample_backend, "--format", "json")
    assert shown["id"] == runs[0]["run_id"]
    assert len(shown["calls"]) == runs[0]["llm_calls"] + runs[0]["tool_calls"]

    plan = invoke_json("plan", "show", *sample_backend, "--format", "json")
    assert plan["parallel_groups"] == load_sample_state()["plan:planner"]["parallel_groups"]

    hints = invoke_json("hints", "show", *sample_backend, "--format", "json")
    assert hints["agent_id"] == "planner"
    assert hints["default_hints"] == sample_default_hints()
    assert {row["path"] for row in hints["predictions"]} == {"/", "/openai"}


def test_runs_list_prints_the_newest_runs_as_table_json_and_csv(sqlite_sample: list[str]) -> None:
    listed = invoke_json("runs", "list", *sqlite_sample, "--format", "json", "--limit", "100")
    newest = listed[-5:]

    table = invoke("runs", "list", *sqlite_sample, "--limit", "5").stdout
    assert "runs (newest 5)" in table and "run id" in table
    assert all(run["run_id"] in table for run in newest)
    assert listed[-6]["run_id"] not in table

    as_json = invoke_json("runs", "list", *sqlite_sample, "--limit", "5", "--format", "json")
    assert as_json == newest
    assert set(as_json[0]) == set(RunSummary.model_fields)

    as_csv = invoke("runs", "list", *sqlite_sample, "--limit", "5", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    assert [row["run_id"] for row in rows] == [run["run_id"] for run in newest]
    assert list(rows[0]) == list(RunSummary.model_fields)


def test_runs_show_prints_the_run_and_its_calls(sqlite_sample: list[str]) -> None:
    run_id = invoke_json("runs", "list", *sqlite_sample, "--format", "json")[0]["run_id"]
    table = invoke("runs", "show", run_id, *sqlite_sample).stdout
    assert "run of planner" in table and run_id in table
    assert "calls" in table and "openai" in table and "search" in table
    for field in ("position", "kind", "name"):
        assert field in CallRow.model_fields and field in table
    record = invoke_json("runs", "show", run_id, *sqlite_sample, "--format", "json")
    assert record["agent_id"] == "planner" and record["calls"][0]["kind"] in ("llm", "tool")


def test_runs_show_of_an_unknown_run_names_the_list_command(sqlite_sample: list[str]) -> None:
    result = invoke_failing("runs", "show", "01a20a42-0000-7000-8000-000000000000", *sqlite_sample)
    assert "is not stored" in result.stderr and "adaptive runs list" in result.stderr


def test_plan_show_prints_the_parallel_groups(sqlite_sample: list[str]) -> None:
    table = invoke("plan", "show", *sqlite_sample).stdout
    assert "parallel tool groups of planner" in table
    for group in load_sample_state()["plan:planner"]["parallel_groups"]:
        assert group["group_id"] in table


def test_plan_show_says_whether_warm_first_gates_each_group_and_why(
    sqlite_sample: list[str],
) -> None:
    """The sample's stable prefix is 4: a pair is 16 vs 16 units (not gated), a triple 32 vs 28."""
    plan = invoke_json("plan", "show", *sqlite_sample, "--format", "json")
    verdicts = {tuple(v["tool_names"]): v for v in plan["warm_first"]}
    assert verdicts[("fetch", "rank", "search")]["gated"] is True
    pair = verdicts[("fetch", "rank")]
    assert pair["gated"] is False and (pair["benefit_units"], pair["cost_units"]) == (16, 16)
    assert pair["reason"] == (
        "benefit 16 units (stable prefix 4 x 1 follower x confidence 4) is not greater than "
        "coordination cost 16 units (12 + 4 x 1^2)"
    )
    assert plan["parallel_groups"] == load_sample_state()["plan:planner"]["parallel_groups"]
    table = invoke("plan", "show", *sqlite_sample, env={"COLUMNS": "200"}).stdout
    assert "warm-first scheduling (tool_parallelism.mode = schedule) per group" in table
    assert "is not greater than coordination cost 16 units" in table
    assert "tool_parallelism.mode is observe_only here" in table


def test_plan_and_hints_say_when_nothing_was_learned(sqlite_url: str) -> None:
    backend = ["--backend", sqlite_url]
    ingest_sample(backend, "--learners", "acg")
    assert "no plan learned for planner yet" in invoke("plan", "show", *backend).stdout
    assert invoke_json("plan", "show", *backend, "--format", "json") is None
    assert "no hints learned for planner yet" in invoke("hints", "show", *backend).stdout
    hints = invoke_json("hints", "show", *backend, "--format", "json")
    assert hints["default_hints"] is None and hints["predictions"] == []


def test_hints_show_prints_default_hints_and_every_prediction(sqlite_sample: list[str]) -> None:
    table = invoke("hints", "show", *sqlite_sample).stdout
    assert "default agent hints of planner" in table and "trie predictions by path" in table
    assert "/openai" in table and "trie lookup" not in table
    defaults = sample_default_hints()
    assert f"{defaults['osl']}" in table and f"{defaults['prefix_id']}" in table


def test_hints_show_looks_up_a_path_and_call_index(sqlite_sample: list[str]) -> None:
    found = invoke_json(
        "hints", "show", *sqlite_sample, "--path", "openai", "--call-index", "2", "--format", "json"
    )["lookup"]
    assert found["path"] == "/openai" and found["call_index"] == 2
    prediction = found["prediction"]
    assert set(prediction) == set(PredictionRow.model_fields)
    assert prediction["path"] == "/openai" and prediction["call_index"] == "2"
    table = invoke("hints", "show", *sqlite_sample, "--path", "openai", "--call-index", "2").stdout
    assert "trie lookup: path /openai, call index 2" in table


def test_hints_lookup_of_an_unlearned_path_falls_back_to_the_deepest_known_node(
    sqlite_sample: list[str],
) -> None:
    found = invoke_json(
        "hints", "show", *sqlite_sample, "--path", "openai/never/seen", "--format", "json"
    )["lookup"]
    assert found["path"] == "/openai/never/seen" and found["call_index"] == 1
    assert found["prediction"]["path"] == "/openai"
    unknown_root = invoke_json(
        "hints",
        "show",
        *sqlite_sample,
        "--path",
        "elsewhere",
        "--call-index",
        "99",
        "--format",
        "json",
    )["lookup"]
    assert unknown_root["prediction"]["path"] == "/"
    assert unknown_root["prediction"]["call_index"] == "any"


def test_the_only_stored_agent_is_used_when_none_is_named(sqlite_sample: list[str]) -> None:
    plan = invoke_json("plan", "show", *sqlite_sample, "--format", "json")
    assert plan["agent_id"] == "planner"


def test_the_agent_id_comes_from_the_environment(sqlite_sample: list[str]) -> None:
    result = runner.invoke(
        app, ["plan", "show", *sqlite_sample, "--format", "json"], env={"ADAPTIVE_AGENT_ID": "x"}
    )
    assert result.exit_code == 2
    assert "no runs or state stored for agent 'x'; stored agents: 'planner'" in result.stderr


def test_an_unknown_agent_lists_the_stored_ones(sqlite_sample: list[str]) -> None:
    for command in (["runs", "list"], ["plan", "show"], ["hints", "show"]):
        result = invoke_failing(*command, *sqlite_sample, "--agent-id", "nobody")
        assert "stored agents: 'planner'" in result.stderr


def test_several_agents_need_an_agent_id(sqlite_url: str, tmp_path: Path) -> None:
    backend = ["--backend", sqlite_url]
    ingest_sample(backend)
    invoke("ingest", str(_renamed_sample(tmp_path)), *backend)
    result = invoke_failing("runs", "list", *backend)
    assert "several agents are stored ('planner', 'writer')" in result.stderr
    assert "--agent-id" in result.stderr
    assert len(invoke_json("runs", "list", *backend, "--agent-id", "writer", "--format", "json"))


def _renamed_sample(tmp_path: Path) -> Path:
    """The sample trace as another agent's runs (agent scopes named ``writer``, new uuids)."""
    path = tmp_path / "writer.jsonl"
    with path.open("w") as out:
        for event in replicated_events(SAMPLE_TRACE, 2):
            if event.get("category") == "agent":
                event["name"] = "writer"
            out.write(json.dumps(event) + "\n")
    return path


def test_an_empty_backend_says_to_ingest_first(sqlite_url: str) -> None:
    result = invoke_failing("runs", "list", "--backend", sqlite_url)
    assert "holds no agents yet" in result.stderr and "adaptive ingest" in result.stderr
