"""Two OS processes sharing one Redis: entries and single-flight across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis

ROOT = Path(__file__).resolve().parents[2]


def split(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts._replace(query="").geturl(), parse_qs(parts.query)["key_prefix"][0]


def worker(server: str, prefix: str, *, concurrency: int, start_at: float, delay_s: float) -> Any:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.cache.cache_worker",
            "--redis-url",
            server,
            "--key-prefix",
            prefix,
            "--counter",
            f"{prefix}provider_calls",
            "--concurrency",
            str(concurrency),
            "--start-at",
            str(start_at),
            "--delay-s",
            str(delay_s),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result(process: Any) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def provider_calls(server: str, prefix: str) -> int:
    client = redis.Redis.from_url(server)
    try:
        return int(client.get(f"{prefix}provider_calls") or 0)
    finally:
        client.close()


def test_the_second_process_is_served_the_first_process_entry(redis_url: str) -> None:
    server, prefix = split(redis_url)
    first = result(worker(server, prefix, concurrency=1, start_at=0, delay_s=0))
    second = result(worker(server, prefix, concurrency=1, start_at=0, delay_s=0))
    assert provider_calls(server, prefix) == 1
    assert second["responses"] == first["responses"]
    assert second["savings"]["total"]["hits"] == 1
    assert second["savings"]["total"]["misses"] == 0


def test_eight_concurrent_misses_in_two_processes_reach_the_provider_once(redis_url: str) -> None:
    server, prefix = split(redis_url)
    start_at = time.time() + 2.5  # both interpreters are up and connected by then
    processes = [
        worker(server, prefix, concurrency=4, start_at=start_at, delay_s=0.4) for _ in range(2)
    ]
    results = [result(process) for process in processes]
    assert provider_calls(server, prefix) == 1
    answers = [response for r in results for response in r["responses"]]
    assert len(answers) == 8
    assert all(answer == answers[0] for answer in answers)
    totals = [r["savings"]["total"] for r in results]
    assert sum(t["misses"] for t in totals) == 1
    assert sum(t["hits"] for t in totals) == 7
