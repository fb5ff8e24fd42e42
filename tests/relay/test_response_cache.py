"""Side by side with NeMo Relay 0.10.4's native response cache, through the real runtime.

Each runtime runs in its own subprocess (``tests/cache/relay_cache_agent.py``),
keeping NeMo Relay's global registrations out of the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cache.test_cross_process import split

ROOT = Path(__file__).resolve().parents[2]
TOOLS = {
    "enabled": True,
    "classes": {
        "docs": {
            "cacheable": True,
            "members": ["docs_*"],
            "arg_skip": ["trace_id"],
            "tool_version": "docs-v1",
        },
        "lookups": {"cacheable": True, "members": ["flaky_lookup"]},
        "live": {"cacheable": True, "bypass_rate": 1.0, "members": ["always_live"]},
    },
}


def run(mode: str, config: dict[str, Any], script: str, cases: Any = None) -> dict[str, Any]:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.cache.relay_cache_agent",
            "--mode",
            mode,
            "--config",
            json.dumps(config),
            "--script",
            script,
            "--cases",
            json.dumps(cases or []),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def decisions(result: dict[str, Any]) -> list[tuple[str, Any, Any, Any]]:
    prefix = "nemo_relay.response_cache."
    return [
        (
            m["data"]["status"],
            m["metadata"].get(prefix + "reason"),
            m["metadata"].get(prefix + "key_hash"),
            m["metadata"].get(prefix + "surface"),
        )
        for m in result["marks"]
    ]


def nemo_metadata(result: dict[str, Any]) -> list[dict[str, Any]]:
    """NeMo Relay's attributes of each mark, less the timing-dependent age."""
    return [
        {
            k: v
            for k, v in m["metadata"].items()
            if k.startswith("nemo_relay.") and not k.endswith("age_ms")
        }
        for m in result["marks"]
    ]


def test_scripted_calls_match_native_counts_responses_and_marks() -> None:
    config = {"namespace": "side-by-side", "ttl_seconds": 60, "tools": TOOLS}
    native, ours = run("native", config, "scripted"), run("ours", config, "scripted")
    assert native["provider"] == ours["provider"] == 3  # 1 deterministic + 2 nondeterministic
    assert native["tools"] == ours["tools"]
    assert ours["tools"] == {"docs_search": 1, "web_fetch": 2, "flaky_lookup": 2, "always_live": 2}
    assert ours["responses"] == native["responses"]
    assert decisions(ours) == decisions(native)
    assert nemo_metadata(ours) == nemo_metadata(native)


def test_ttl_expiry_matches_native() -> None:
    config = {"namespace": "side-by-side", "ttl_seconds": 1}
    native, ours = run("native", config, "ttl"), run("ours", config, "ttl")
    assert native["provider"] == ours["provider"] == 2
    assert [d[0] for d in decisions(ours)] == [d[0] for d in decisions(native)]
    assert [d[0] for d in decisions(ours)] == ["miss", "hit", "miss"]


def test_bypass_rate_one_always_runs_live_like_native() -> None:
    config = {"namespace": "side-by-side", "bypass_rate": 1.0}
    native, ours = run("native", config, "repeat"), run("ours", config, "repeat")
    assert native["provider"] == ours["provider"] == 2
    assert decisions(ours) == decisions(native)


M = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "f",
        "description": "d",
        "parameters": {
            "type": "object",
            "properties": {"description": {"type": "string", "description": "x"}},
        },
    },
}
KEY_CASES = [
    ["openai", {"model": "m", "messages": M, "temperature": 0}],
    [
        "openai",
        {
            "model": "m",
            "messages": M,
            "temperature": 0,
            "top_p": 1,
            "max_tokens": 9,
            "stop": ["x"],
            "seed": 3,
            "user": "u",
            "metadata": {"a": 1},
            "service_tier": "auto",
            "extra_field": {"b": None},
        },
    ],
    ["openai", {"model": "m", "messages": M, "temperature": 0, "max_completion_tokens": 9}],
    ["openai", {"model": "m", "messages": M, "temperature": 0, "stop": "raw-keyed"}],
    [
        "openai",
        {
            "model": "m",
            "temperature": 0,
            "tools": [TOOL],
            "tool_choice": "auto",
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_x",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_x", "content": "r"},
            ],
        },
    ],
    [
        "openai",
        {
            "model": "m",
            "messages": [{"role": "developer", "content": [{"type": "text", "text": "d"}]}],
            "temperature": 0,
        },
    ],
    ["openai", {"prompt": "completion body", "temperature": 0}],
]


@pytest.mark.parametrize("strategy", ["exact_request", "logical"])
def test_llm_keys_are_native_keys(strategy: str) -> None:
    config = {"namespace": "keys", "key_strategy": strategy, "header_allowlist": ["X-Tenant"]}
    native, ours = run("native", config, "keys", KEY_CASES), run("ours", config, "keys", KEY_CASES)
    assert decisions(ours) == decisions(native)
    assert all(d[2] is not None for d in decisions(ours))


def test_redis_entries_are_shared_with_native_both_ways(redis_url: str) -> None:
    server, prefix = split(redis_url)
    for writer, reader in (("native", "ours"), ("ours", "native")):
        config = {
            "namespace": f"interop-{writer}",
            "backend": {"kind": "redis", "config": {"url": server, "key_prefix": prefix}},
            "tools": TOOLS,
        }
        first = run(writer, config, "scripted")
        second = run(reader, config, "scripted")
        assert first["provider"] == 3
        assert second["provider"] == 2  # only the nondeterministic calls ran live
        assert second["tools"]["web_fetch"] == 2
        assert "docs_search" not in second["tools"]  # served the writer's tool entry
        assert second["responses"][:3] == first["responses"][:3]
        assert [d[0] for d in decisions(second)][:3] == ["hit", "hit", "hit"]
