"""``adaptive config validate FILE``: diagnostics, what runs, and the exit code."""

from __future__ import annotations

import json
from pathlib import Path

from adaptive.cli.app import app
from tests.cli_runs import runner
from tests.cli_support import invoke, invoke_failing

PLUGINS = """\
version = 1
[[components]]
kind = "adaptive_runtime"
enabled = {enabled}
[components.config]
agent_id = "planner"
[components.config.state]
backend = "postgresql://postgres@127.0.0.1/adaptive"
[components.config.telemetry]
learners = ["tool_parallelism", "acg"]
[components.config.adaptive_hints]
[components.config.acg]
provider = "anthropic"
"""

BAD = """\
[policy]
unknown_field = "error"
[[components]]
kind = "adaptive"
[components.config]
agent_idd = "x"
[components.config.state.backend]
kind = "in_memory"
[components.config.tool_parallelism]
mode = "fast"
[components.config.acg]
provider = "gemini"
observation_window = 0
"""


def write(tmp_path: Path, text: str, name: str = "plugins.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_valid_plugins_toml_says_what_runs(tmp_path: Path) -> None:
    out = invoke("config", "validate", write(tmp_path, PLUGINS.format(enabled="true"))).stdout
    lines = out.splitlines()
    assert "component adaptive_runtime (read as NeMo Relay reads it)" in lines[0]
    assert "0 error(s), 0 warning(s)" in lines
    assert "  learning: on, into postgres; learners: tool_parallelism, acg" in lines
    assert (
        "  adaptive_hints: on: header x-nemo-relay-adaptive-agent-hints, "
        "body nvext.agent_hints, lookup relay"
    ) in lines
    assert "  tool_parallelism: off (no tool_parallelism section)" in lines
    assert "  acg: provider anthropic; learner on" in lines


def test_a_disabled_component_is_validated_and_said_to_stay_off(tmp_path: Path) -> None:
    out = invoke("config", "validate", write(tmp_path, PLUGINS.format(enabled="false"))).stdout
    assert "enabled = false: validated, but NeMo Relay will not activate it" in out
    assert "  learning: off (no telemetry section)" in out


def test_errors_are_listed_with_their_field_and_exit_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "validate", write(tmp_path, BAD)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stdout.splitlines()
    assert "component adaptive (read as NeMo Relay reads it)" in lines[0]
    assert (
        "error adaptive.unsupported_value [tool_parallelism.mode]: tool_parallelism mode "
        "'fast' is unsupported; expected observe_only, inject_hints, or schedule"
    ) in lines
    assert (
        "error adaptive.unknown_field [adaptive.agent_idd]: field 'agent_idd' is not "
        "recognized for 'adaptive'"
    ) in lines  # the document's [policy] made it an error
    assert (
        "error adaptive.invalid_value [acg.observation_window]: acg.observation_window must "
        "be at least 1, got 0"
    ) in lines
    assert "4 error(s), 0 warning(s)" in lines


def test_json_gives_nemo_relays_diagnostic_shape(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "validate", write(tmp_path, BAD), "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["semantics"] == "relay"
    assert report["parts"] is None
    assert {
        "level": "error",
        "code": "adaptive.unsupported_value",
        "component": "acg",
        "field": "provider",
        "message": "acg provider 'gemini' is unsupported; expected anthropic, openai, or "
        "passthrough",
    } in report["diagnostics"]


def test_our_own_toml_turns_everything_on(tmp_path: Path) -> None:
    path = write(tmp_path, '[adaptive]\nagent_id = "planner"\n', "adaptive.toml")
    out = invoke("config", "validate", path).stdout
    assert "our own config: every part on unless set otherwise" in out
    assert "learners: tool_parallelism, latency_sensitivity, acg" in out
    assert "lookup call_site" in out


def test_an_unreadable_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = invoke_failing("config", "validate", str(tmp_path / "missing.toml"))
    assert "config file not found" in missing.stderr
    broken = invoke_failing("config", "validate", write(tmp_path, "x = = 1"))
    assert "is not valid TOML" in broken.stderr
    none = invoke_failing("config", "validate", write(tmp_path, '[[components]]\nkind = "x"\n'))
    assert 'no component with kind = "adaptive_runtime"' in none.stderr
