from pathlib import Path

import pytest

from adaptive.config import (
    AdaptiveConfig,
    BackendKind,
    BackendSpec,
    HintsLookup,
    ToolParallelismMode,
    load_config,
    with_learners,
)
from adaptive.errors import ConfigError
from adaptive.storage.factory import backend_url

PLUGINS_TOML = """
version = 1

[[components]]
kind = "other"
enabled = true

[[components]]
kind = "adaptive"
enabled = true

[components.config]
version = 1
agent_id = "planner"

[components.config.state.backend]
kind = "in_memory"

[components.config.telemetry]
subscriber_name = "adaptive.telemetry"
learners = ["tool_parallelism", "acg"]

[components.config.tool_parallelism]
mode = "schedule"

[components.config.acg]
provider = "passthrough"
observation_window = 50

[components.config.acg.stability_thresholds]
stable_threshold = 0.9
semi_stable_threshold = 0.4
min_observations_for_full_confidence = 10
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_learn_with_all_learners_into_embedded_sqlite() -> None:
    config = load_config(env={})
    assert config.backend.kind is BackendKind.SQLITE
    assert backend_url(config.backend) == "sqlite:///./adaptive.db"
    assert config.telemetry is not None and config.acg is not None
    assert config.learner_names == ["tool_parallelism", "latency_sensitivity", "acg"]
    assert config.acg.observation_window == 100
    assert config.adaptive_hints is not None
    assert config.adaptive_hints.inject_body_path == "nvext.agent_hints"
    assert config.adaptive_hints.header_name == "x-nemo-relay-adaptive-agent-hints"
    assert config.adaptive_hints.lookup is HintsLookup.CALL_SITE
    assert config.tool_parallelism is not None and config.response_cache is None


def test_nemo_relay_plugins_toml_is_read_as_is(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, PLUGINS_TOML), env={})
    assert config.agent_id == "planner"
    assert config.backend.kind is BackendKind.MEMORY
    assert config.telemetry is not None and config.telemetry.learners == ["tool_parallelism", "acg"]
    assert config.telemetry.subscriber_name == "adaptive.telemetry"
    assert config.tool_parallelism is not None
    assert config.tool_parallelism.mode is ToolParallelismMode.SCHEDULE
    assert config.acg is not None and config.acg.observation_window == 50
    assert config.acg.stability_thresholds.stable_threshold == 0.9
    assert config.adaptive_hints is None  # no [components.config.adaptive_hints]: no hints


def test_plain_adaptive_table(tmp_path: Path) -> None:
    text = '[adaptive]\nagent_id = "x"\n[adaptive.drain]\nbatch_size = 8\n'
    config = load_config(write(tmp_path, text), env={})
    assert (config.agent_id, config.drain.batch_size) == ("x", 8)


def test_env_overrides_file(tmp_path: Path) -> None:
    env = {
        "ADAPTIVE_CONFIG": str(write(tmp_path, PLUGINS_TOML)),
        "ADAPTIVE_AGENT_ID": "other",
        "ADAPTIVE_BACKEND": "redis://localhost:6379/0?key_prefix=t:",
        "ADAPTIVE_LEARNERS": "acg",
    }
    config = load_config(env=env)
    assert config.agent_id == "other"
    assert config.backend.kind is BackendKind.REDIS
    assert config.backend.config["key_prefix"] == "t:"
    assert config.learner_names == ["acg"]


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("memory://", BackendKind.MEMORY),
        ("sqlite:///./adaptive.db", BackendKind.SQLITE),
        ("sqlite+aiosqlite:///x.db", BackendKind.SQLITE),
        ("postgresql://postgres@127.0.0.1/db", BackendKind.POSTGRES),
        ("postgresql+asyncpg://postgres@127.0.0.1/db", BackendKind.POSTGRES),
        ("rediss://host:6380/1", BackendKind.REDIS),
    ],
)
def test_backend_urls(url: str, kind: BackendKind) -> None:
    assert BackendSpec.from_url(url).kind is kind


def test_postgres_kind_without_url_is_a_clear_error(tmp_path: Path) -> None:
    from adaptive.storage.factory import create_backend

    with pytest.raises(ConfigError, match=r"postgres backend requires state\.backend\.config\.url"):
        load_config(write(tmp_path, '[adaptive.state.backend]\nkind = "postgres"\n'), env={})
    with pytest.raises(ConfigError, match="needs a url"):  # built in code, caught at creation
        create_backend(BackendSpec(kind=BackendKind.POSTGRES))


def test_unknown_backend_scheme_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown backend URL scheme 'mysql'"):
        BackendSpec.from_url("mysql://x")


def test_unknown_learner_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown learner"):
        with_learners(AdaptiveConfig(), "tool_parallelism,magic")


def test_unknown_fields_warn_by_default_and_fail_under_strict_policy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = '[adaptive]\nagent_idd = "x"\n[adaptive.acg]\nwindow = 3\n'
    load_config(write(tmp_path, text), env={})
    assert "acg.window" in caplog.text and "agent_idd" in caplog.text
    strict = text + '[adaptive.policy]\nunknown_field = "error"\n'
    with pytest.raises(ConfigError, match="agent_idd"):
        load_config(write(tmp_path, strict), env={})


def test_invalid_values_and_files_give_actionable_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"acg\.observation_window must be at least 1, got 0"):
        load_config(write(tmp_path, "[adaptive.acg]\nobservation_window = 0\n"), env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "this is = = not toml"), env={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match="no component with kind"):
        load_config(write(tmp_path, '[[components]]\nkind = "x"\n'), env={})
