"""``adaptive demo`` and the synthetic workload it learns from."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from adaptive.analytics.queries import QUERY_NAMES
from adaptive.cli.app import app
from adaptive.cli.demo import DemoOptions, run_demo
from adaptive.events.model import Event
from adaptive.events.synthetic import WorkloadSpec, synthetic_events, write_jsonl
from tests.cli_runs import runner

SMALL = WorkloadSpec(runs=30, seed=3)


def jsonl(spec: WorkloadSpec) -> bytes:
    out = io.BytesIO()
    write_jsonl(synthetic_events(spec), out)
    return out.getvalue()


# -- the workload -------------------------------------------------------------


def test_the_workload_is_deterministic_per_seed() -> None:
    assert jsonl(SMALL) == jsonl(WorkloadSpec(runs=30, seed=3))
    assert jsonl(SMALL) != jsonl(WorkloadSpec(runs=30, seed=4))


def test_the_workload_is_atof_with_everything_the_learners_look_for() -> None:
    raw = list(synthetic_events(SMALL))
    events = [Event.model_validate(event) for event in raw]
    stamps = [event.timestamp for event in events]
    assert stamps == sorted(stamps), "events come in time order, overlapping runs interleaved"

    scopes = Counter((event.category, event.scope_category) for event in events)
    assert scopes[("agent", "start")] == scopes[("agent", "end")] == SMALL.runs
    assert scopes[("tool", "start")] == scopes[("tool", "end")] > SMALL.runs
    assert scopes[("llm", "start")] == scopes[("llm", "end")] >= 3 * SMALL.runs

    models = {event.annotated_request["model"] for event in events if event.annotated_request}
    assert len(models) == 3
    usage = [event.annotated_response["usage"] for event in events if event.annotated_response]
    assert all(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] for u in usage)
    statuses = Counter(
        event.metadata["otel.status_code"] for event in events if event.metadata is not None
    )
    assert statuses["OK"] > statuses["ERROR"] > 0
    assert all(event["atof_version"] == "0.1" and event["kind"] == "scope" for event in raw)


def test_runs_overlap_and_tools_fan_out() -> None:
    events = [Event.model_validate(event) for event in synthetic_events(SMALL)]
    open_runs, most_open, open_tools, widest = 0, 0, 0, 0
    for event in events:
        step = 1 if event.scope_category == "start" else -1
        if event.category == "agent":
            open_runs += step
            most_open = max(most_open, open_runs)
        elif event.category == "tool":
            open_tools += step
            widest = max(widest, open_tools)
    assert most_open >= 2 and widest >= 3


def test_the_stable_and_variable_prompt_blocks() -> None:
    requests = [
        event.annotated_request
        for event in map(Event.model_validate, synthetic_events(SMALL))
        if event.annotated_request is not None and event.name == "plan"
    ]
    systems = {json.dumps(request["messages"][0]) for request in requests}
    questions = {request["messages"][2]["content"] for request in requests}
    assert len(systems) == 1 and len(questions) > len(requests) // 3
    assert all(len(request["tools"]) == 5 for request in requests)


# -- the demo -----------------------------------------------------------------


async def test_the_demo_learns_groups_hints_and_stability(tmp_path: Path) -> None:
    result = await run_demo(DemoOptions(db=tmp_path / "demo.db"))
    assert result.ingest.stats.runs_stored == 150 and result.ingest.report.skipped_total == 0

    assert result.plan is not None
    groups = {tuple(group.tool_names) for group in result.plan.parallel_groups}
    assert ("search_docs", "search_web") in groups
    assert ("query_db", "search_docs", "search_web") in groups
    assert ("fetch_page", "rank_sources") in groups

    assert result.hints.default_hints is not None
    predicted = {(row.path, row.call_index) for row in result.hints.predictions}
    assert {("/plan", "1"), ("/plan", "2"), ("/summarize", "1"), ("/answer", "1")} <= predicted

    profiles = {row.model: row for row in result.stability}
    assert set(profiles) == {
        "llama-3.3-70b-instruct",
        "llama-3.1-8b-instruct",
        "mixtral-8x22b-instruct",
    }
    planner = profiles["llama-3.3-70b-instruct"]
    assert planner.best and planner.stable_prefix_length == 6 and planner.semi_stable_blocks == 1
    assert profiles["mixtral-8x22b-instruct"].stable_prefix_length == 3

    assert list(result.analytics) == list(QUERY_NAMES)
    assert all(result.analytics[name] for name in QUERY_NAMES)


def test_the_demo_command_prints_what_was_learned(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = runner.invoke(app, ["demo", "--db", str(db), "--runs", "40"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for section in (
        "simulated 40 runs",
        "parallel tool groups of research-assistant",
        "fanout:sha256:",
        "default agent hints of research-assistant",
        "trie predictions by path",
        "prompt-cache (ACG) stability per profile",
        "Runs over time",
        "Tool latency",
        "Token usage by model",
        "Parallel tool fan-outs",
        "Slowest runs",
        f"adaptive report --backend sqlite:///{db}",
    ):
        assert section in out, section
    assert db.is_file()


def test_the_demo_replaces_its_own_database_but_no_other_file_unless_forced(
    tmp_path: Path,
) -> None:
    db = tmp_path / "demo.db"
    for _ in range(2):
        again = runner.invoke(app, ["demo", "--db", str(db), "--runs", "5"])
        assert again.exit_code == 0, again.output
        assert "stored 5 runs" in again.stdout

    theirs = tmp_path / "theirs.db"
    theirs.write_text("someone's data")
    refused = runner.invoke(app, ["demo", "--db", str(theirs), "--runs", "5"])
    assert refused.exit_code == 2
    assert f"{theirs} already exists and was not made by adaptive demo" in refused.stderr
    assert "pass --force" in refused.stderr
    assert theirs.read_text() == "someone's data"

    forced = runner.invoke(app, ["demo", "--db", str(theirs), "--runs", "5", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "stored 5 runs" in forced.stdout


def test_the_demo_trace_can_be_ingested_again(tmp_path: Path) -> None:
    trace = tmp_path / "demo.jsonl"
    made = runner.invoke(
        app, ["demo", "--db", str(tmp_path / "demo.db"), "--runs", "12", "--trace", str(trace)]
    )
    assert made.exit_code == 0, made.output
    again = runner.invoke(app, ["ingest", str(trace), "--backend", "memory://"])
    assert again.exit_code == 0, again.output
    assert "runs stored" in again.stdout and " 12 " in again.stdout


@pytest.mark.parametrize("runs", [1, 2])
def test_tiny_workloads_still_complete(runs: int) -> None:
    events = [Event.model_validate(event) for event in synthetic_events(WorkloadSpec(runs=runs))]
    assert sum(1 for e in events if e.category == "agent" and e.scope_category == "end") == runs
