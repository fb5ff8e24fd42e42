"""Transport URLs and the stream entry format."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest

from adaptive.config import AdaptiveConfig, load_config
from adaptive.errors import ConfigError
from adaptive.records import CallKind
from adaptive.transport.entry import UndecodableEntryError, decode, encode
from adaptive.transport.url import parse_transport_url
from tests.factories import call, run_with


def test_a_plain_url_names_redis_stream_and_group() -> None:
    target = parse_transport_url(
        "redis+streams://:secret@127.0.0.1:6380/2?stream=app:runs&group=learners&socket_timeout=5"
    )
    assert target.redis_url == "redis://:secret@127.0.0.1:6380/2?socket_timeout=5"
    assert (target.stream, target.group, target.cluster) == ("app:runs", "learners", False)
    assert target.dead_letter == "app:runs:dead-letter"
    assert target.channel("planner") == "app:runs:committed:planner"
    assert "secret" not in target.display


def test_defaults_and_tls() -> None:
    target = parse_transport_url("rediss+streams://cache:6380/0")
    assert target.redis_url == "rediss://cache:6380/0"
    assert (target.stream, target.group) == ("adaptive:runs", "adaptive-workers")


def test_a_cluster_url_needs_a_braced_stream() -> None:
    target = parse_transport_url("redis+streams+cluster://h1:7000,h2:7001/")
    assert target.cluster and target.stream == "{adaptive}:runs"
    assert target.redis_url == "redis+cluster://h1:7000,h2:7001/"
    with pytest.raises(ConfigError, match=r"no hash tag.*stream=\{app:runs\}"):
        parse_transport_url("redis+streams+cluster://h1:7000/?stream=app:runs")


def test_an_unknown_scheme_says_what_to_write() -> None:
    with pytest.raises(ConfigError, match=r"unknown transport URL scheme 'kafka'.*redis\+streams"):
        parse_transport_url("kafka://broker:9092/runs")


def test_the_transport_comes_from_toml_or_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "adaptive.toml"
    path.write_text(
        '[transport]\nurl = "redis+streams://r:6379/0"\noverflow = "drop"\nmax_backlog = 10\n'
    )
    config = load_config(path, env={})
    assert config.transport.url == "redis+streams://r:6379/0"
    assert (config.transport.overflow.value, config.transport.max_backlog) == ("drop", 10)
    env = {"ADAPTIVE_TRANSPORT": "redis+streams://other:6379/0"}
    assert load_config(path, env=env).transport.url == "redis+streams://other:6379/0"
    assert AdaptiveConfig().transport.url is None  # in-process learning stays the default


def test_an_entry_holds_the_run_as_nemo_relay_wire_json() -> None:
    run = run_with([call(CallKind.LLM, "chat", 0, 5, model_name="m", total_tokens=7)], agent="a")
    fields = encode(run)
    assert fields[b"v"] == b"1" and fields[b"agent"] == b"a"
    assert json.loads(fields[b"run"]) == run.to_wire()
    assert decode(fields) == run


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({b"v": b"2", b"run": b"{}"}, "entry format b'2'"),
        ({b"v": b"1"}, "no 'run' field"),
        ({b"v": b"1", b"run": b"not json"}, "not a run record"),
        ({b"v": b"1", b"run": json.dumps({"id": str(uuid4())}).encode()}, "not a run record"),
    ],
)
def test_an_entry_that_holds_no_run_says_why(fields: dict[bytes, bytes], reason: str) -> None:
    with pytest.raises(UndecodableEntryError, match=reason.replace("(", r"\(")):
        decode(fields)


def test_an_entry_whose_agent_field_lies_is_refused() -> None:
    fields = encode(run_with([], agent="a"))
    fields[b"agent"] = b"b"
    with pytest.raises(UndecodableEntryError, match="does not match"):
        decode(fields)
