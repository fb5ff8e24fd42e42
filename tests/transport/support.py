"""Transport test helpers: worker processes, publishing agents, stream inspection."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adaptive.config import AdaptiveConfig
from adaptive.events.atof import ReadReport, read_events
from adaptive.runtime import AdaptiveRuntime
from adaptive.storage.export import export_state
from adaptive.storage.factory import create_backend
from adaptive.transport.url import parse_transport_url

ROOT = Path(__file__).resolve().parents[2]
FAST_CLAIMS = {"transport": {"claim_idle_s": 1.0, "max_deliveries": 3}}
"""Test workers claim a dead worker's entries after 1 s (30 s in production)."""


def toml_config(sections: dict[str, dict[str, Any]], path: Path) -> Path:
    """A TOML file of flat tables (all the tests need)."""
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            shown = f'"{value}"' if isinstance(value, str) else str(value).lower()
            if isinstance(value, int | float) and not isinstance(value, bool):
                shown = repr(value)
            lines.append(f"{key} = {shown}")
    path.write_text("\n".join(lines) + "\n")
    return path


def start_worker(
    transport: str,
    backend: str,
    directory: Path,
    *,
    sections: dict[str, dict[str, Any]] | None = None,
    metrics_port: int | None = None,
    consumer: str | None = None,
    ready: bool = True,
) -> subprocess.Popen[str]:
    """``adaptive worker`` as an OS process of its own (stderr to a file in ``directory``);
    with ``ready``, returns once it has joined the group and said so."""
    name = consumer or f"w{time.monotonic_ns()}"
    config = toml_config(sections or FAST_CLAIMS, directory / f"{name}.toml")
    command = [sys.executable, "-m", "adaptive.cli", "worker", "--transport", transport]
    command += ["--backend", backend, "--config", str(config), "--consumer", name]
    if metrics_port is not None:
        command += ["--metrics-port", str(metrics_port)]
    log_path = directory / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "ADAPTIVE_CONFIG": ""},
        )
    deadline = time.monotonic() + 60
    while ready and "adaptive worker " not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"worker did not start: {log_path.read_text()}")
        time.sleep(0.05)
    return process


def stop_worker(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """SIGTERM, wait, and the summary line it printed; fails on a non-zero exit."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"worker exited {process.returncode}: {out}"
    return out


@contextmanager
def workers(*processes: subprocess.Popen[str]) -> Iterator[list[subprocess.Popen[str]]]:
    """Workers that are killed whatever happens in the test."""
    try:
        yield list(processes)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


def agent_config(url: str, backend: str, agent: str, **sections: Any) -> AdaptiveConfig:
    """An agent's config: publishing to ``url``, reading learned state from ``backend``."""
    config = AdaptiveConfig.model_validate({"agent_id": agent, **sections})
    return config.with_backend_url(backend).with_transport_url(url)


async def publish_trace(trace: Path, transport: str, backend: str, agent: str) -> int:
    """An agent process's job: assemble the trace's runs and publish them; runs published."""
    async with AdaptiveRuntime(agent_config(transport, backend, agent)) as runtime:
        for event in read_events(trace, ReadReport()):
            await runtime.emit(event)
        await runtime.wait_for_idle()
    return runtime.drain.stats.runs_published


async def wait_until(
    condition: Callable[[], Any], within: float, what: str, every: float = 0.1
) -> None:
    """Poll a condition (plain or async) until true (correctness waits, never timing targets)."""
    deadline = time.monotonic() + within
    while not await _value(condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(every)


async def _value(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def stored_run_ids(backend_url: str, agent: str) -> list[str]:
    backend = create_backend(AdaptiveConfig().with_backend_url(backend_url).backend)
    await backend.open()
    try:
        return [str(run_id) for run_id in await backend.list_run_ids(agent)]
    finally:
        await backend.close()


async def wait_stored(backend_url: str, agent: str, count: int, within: float = 120) -> None:
    async def enough() -> bool:
        return len(await stored_run_ids(backend_url, agent)) >= count

    await wait_until(enough, within, f"{count} runs of {agent} stored", every=0.25)


async def exported(backend_url: str, agent: str) -> dict[str, Any]:
    backend = create_backend(AdaptiveConfig().with_backend_url(backend_url).backend)
    await backend.open()
    try:
        return await export_state(backend, agent)
    finally:
        await backend.close()


class StreamView:
    """Synchronous looks at a transport's stream, group and dead letters."""

    def __init__(self, transport: str) -> None:
        import redis

        self.target = parse_transport_url(transport)
        if self.target.cluster:
            from redis.cluster import RedisCluster

            host, _, port = urlsplit_hosts(self.target.redis_url)
            self.client: Any = RedisCluster(host=host, port=int(port))
        else:
            self.client = redis.Redis.from_url(self.target.redis_url)

    def close(self) -> None:
        self.client.close()

    def length(self) -> int:
        return int(self.client.xlen(self.target.stream))

    def pending(self, consumer: str | None = None) -> int:
        """Entries delivered, not acknowledged (0 before the workers made the group)."""
        import redis

        try:
            return self._pending(consumer)
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            return 0

    def _pending(self, consumer: str | None) -> int:
        if consumer is None:
            summary = self.client.xpending(self.target.stream, self.target.group)
            return int(summary["pending"])
        rows = self.client.xpending_range(
            self.target.stream, self.target.group, "-", "+", 100_000, consumername=consumer
        )
        return len(rows)

    def group(self) -> dict[str, Any] | None:
        for group in self.client.xinfo_groups(self.target.stream):
            name = group["name"]
            if (name.decode() if isinstance(name, bytes) else name) == self.target.group:
                return dict(group)
        return None

    def dead_letters(self) -> list[dict[str, str]]:
        entries = self.client.xrange(self.target.dead_letter)
        return [
            {key.decode(): value.decode(errors="replace") for key, value in fields.items()}
            for _, fields in entries
        ]

    def add_raw(self, fields: dict[str, str]) -> str:
        entry_id = self.client.xadd(self.target.stream, fields)
        return str(entry_id.decode())


def urlsplit_hosts(url: str) -> tuple[str, str, str]:
    """The first seed of a ``redis+cluster://`` URL as (host, ':', port)."""
    netloc = url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
    return netloc.split(",")[0].partition(":")
