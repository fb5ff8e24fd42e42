"""Running NeMo Relay's native ACG next to ours: the agent process and the shared state.

``NativeAgent`` drives ``relay_scripts agent`` run by run; before each run
the test loads what NeMo Relay has stored so far into a ``HotCache`` with our
``RedisBackend`` (``hot_cache_from``), exactly what NeMo Relay's own hot
cache holds at that moment, since that process learned all of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from adaptive.hot_cache import HotCache
from adaptive.storage.protocol import StorageBackend

ROOT = Path(__file__).resolve().parents[3]
AGENT = "planner"


def split_redis_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts._replace(query="").geturl(), parse_qs(parts.query)["key_prefix"][0]


class NativeAgent:
    """NeMo Relay 0.10.4 with its native adaptive component, one agent run per call.

    ``ours``: the same agent under our runtime (``RelayBridge``) instead.
    """

    def __init__(self, provider: str, redis_url: str, *, ours: bool = False) -> None:
        server, prefix = split_redis_url(redis_url)
        self.command = [
            sys.executable,
            "-m",
            "tests.acg.providers.relay_scripts",
            "agent",
            "--provider",
            provider,
            "--redis-url",
            server,
            "--key-prefix",
            prefix,
            *(["--ours"] if ours else []),
        ]
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> NativeAgent:
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        return self

    def run(self, surface: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One agent run; the bodies NeMo Relay's provider callable received, in order."""
        assert self.process is not None and self.process.stdin and self.process.stdout
        items = [{"surface": surface, "request": request} for request in requests]
        self.process.stdin.write(json.dumps(items) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"NeMo Relay agent exited: {self._stderr()}")
        result: dict[str, Any] = json.loads(line)
        assert result["report"] == {"diagnostics": []}, result["report"]
        bodies: list[dict[str, Any]] = result["bodies"]
        return bodies

    def _stderr(self) -> str:
        assert self.process is not None and self.process.stderr
        self.process.wait(timeout=30)
        return self.process.stderr.read()[-4000:]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.process is not None and self.process.stdin
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        try:
            self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()


async def hot_cache_from(backend: StorageBackend, keys: set[str]) -> HotCache:
    """What NeMo Relay's hot cache holds: the aggregate plus each learned profile.

    The aggregate is what ``AdaptiveRuntime.seed_hot_cache`` loads; the
    profiles and their counts are what the ACG learner's refresh puts there
    (``total_observations`` per learning key).
    """
    cache = HotCache()
    aggregate = await backend.load_stability(AGENT)
    if aggregate is not None:
        cache.acg_stability = aggregate
        cache.acg_observation_count = aggregate.total_observations
    for key in keys:
        result = await backend.load_stability(key)
        if result is not None:
            cache.acg_profiles[key] = result
            cache.acg_profile_observation_counts[key] = result.total_observations
    return cache
