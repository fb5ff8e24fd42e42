"""Side by side: the README's plugins.toml under NeMo Relay's own component and under ours.

The file (``examples/plugins.toml``: Redis backend, ``adaptive_hints``,
``tool_parallelism.mode = "schedule"``, ``acg.provider = "anthropic"``) runs
the same scripted agent twice, each in a process of its own
(``tests/relay_agent.py --plugins-toml``): once as NeMo Relay's ``adaptive``
component, once with only ``kind`` changed to ``adaptive_runtime``. The
requests reaching the provider callable must carry the same hints, in the
same header and body path, and warm-first must hold back the same fan-outs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

from adaptive.config import BackendSpec
from adaptive.storage.factory import create_backend
from tests.relay.test_interop import split_redis_url

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugins.toml"
RUNS = 4
TOOL_DELAY_S = 0.05
IAT_TOLERANCE_MS = 20
"""``iat`` is the mean measured gap between LLM calls: two processes measure it apart."""


def example(kind: str, backend: str) -> str:
    text = EXAMPLE.read_text()
    assert text.count('kind = "adaptive_runtime"') == 1
    table = '[components.config.state.backend]\nkind = "redis"\n'
    assert table in text
    text = text.replace('kind = "adaptive_runtime"', f'kind = "{kind}"')
    line = text[text.index(table) + len(table) :].split("\n", 1)[0]
    return text.replace(table + line, f"[components.config.state.backend]\n{backend}")


def run(path: Path, *, native: bool) -> dict[str, Any]:
    completed = subprocess.run(
        [
            sys.executable, "-m", "tests.relay_agent", "--plugins-toml", str(path),
            "--runs", str(RUNS), "--tool-delay-s", str(TOOL_DELAY_S),
            *(["--native"] if native else []),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "RUST_LOG": "warn"},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def forget(redis_url: str) -> None:
    server, prefix = split_redis_url(redis_url)
    client = redis.Redis.from_url(server)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def without_iat(hints: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if hints is None else {k: v for k, v in hints.items() if k != "iat"}


def test_the_same_plugins_toml_sends_the_same_hints_under_nemo_relay_and_ours(
    tmp_path: Path, redis_url: str
) -> None:
    server, prefix = split_redis_url(redis_url)
    backend = f'kind = "redis"\nconfig = {{ url = "{server}", key_prefix = "{prefix}" }}'
    theirs, ours = tmp_path / "theirs.toml", tmp_path / "ours.toml"
    theirs.write_text(example("adaptive", backend))
    ours.write_text(example("adaptive_runtime", backend))
    changed = [
        (a, b)
        for a, b in zip(theirs.read_text().splitlines(), ours.read_text().splitlines(), strict=True)
        if a != b
    ]
    assert changed == [('kind = "adaptive"', 'kind = "adaptive_runtime"')]

    native = run(theirs, native=True)
    forget(redis_url)  # the same prefix, from scratch
    adaptive = run(ours, native=False)

    assert native["report"] == adaptive["report"] == {"diagnostics": []}
    assert len(native["requests"]) == len(adaptive["requests"]) == 2 * RUNS
    for (their_header, their_body), (our_header, our_body) in zip(
        native["requests"], adaptive["requests"], strict=True
    ):
        assert their_header == their_body and our_header == our_body  # header and body agree
        assert without_iat(our_header) == without_iat(their_header)
        if their_header is not None:
            assert abs(our_header["iat"] - their_header["iat"]) <= IAT_TOLERANCE_MS
    # Everything else the provider received is the same too (but the random trace id).
    assert native["whole"] == adaptive["whole"]
    hinted = [header for header, _ in native["requests"] if header is not None]
    assert len(hinted) == 2 * (RUNS - 1)  # learned from the first run on
    # Warm-first held back the same fan-outs (the third run on: 24 units > 16).
    gated = [[gap >= TOOL_DELAY_S * 0.8 for gap in r["fan_out_gaps"]] for r in (native, adaptive)]
    assert gated[0] == gated[1] == [False, False, True, True]


def test_the_same_file_with_a_postgresql_url_stores_the_runs_there(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    path = tmp_path / "ours.toml"
    backend = f'kind = "postgres"\nconfig = {{ url = "{fresh_postgres_url}" }}'
    path.write_text(example("adaptive_runtime", backend))
    result = run(path, native=False)
    assert result["report"] == {"diagnostics": []}
    assert len(stored(fresh_postgres_url)) == RUNS


def stored(url: str) -> list[Any]:
    import asyncio

    async def run_ids() -> list[Any]:
        backend = create_backend(BackendSpec.from_url(url))
        await backend.open()
        try:
            return list(await backend.list_run_ids("planner"))
        finally:
            await backend.close()

    return asyncio.run(run_ids())
