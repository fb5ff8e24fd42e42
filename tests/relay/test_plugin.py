"""The plugin-host component with the real ``nemo-relay`` package: NeMo Relay activates ours.

Every test activates a ``plugins.toml`` through ``nemo_relay.plugin.activate``
(``initialize`` + ``close``), as a NeMo Relay user does, and reads what was
stored through a backend of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nemo_relay
import pytest

from adaptive.config import BackendSpec
from adaptive.relay import active_component, register_plugin, wait_for_idle
from adaptive.relay.plugin import ActiveComponent
from adaptive.storage.factory import create_backend
from tests.relay_agent import AGENT, MODEL, PROVIDER, ProviderLog, make_provider, run_agent

HEADER = "x-nemo-relay-adaptive-agent-hints"

NEMO_RELAY_TOML = """\
version = 1

[[components]]
kind = "{kind}"
enabled = {enabled}

[components.config]
version = 1
agent_id = "planner"

[components.config.state.backend]
{backend}

[components.config.telemetry]
learners = ["tool_parallelism", "latency_sensitivity", "acg"]

[components.config.adaptive_hints]
priority = 100

[components.config.tool_parallelism]
mode = "schedule"

[components.config.acg]
provider = "anthropic"
"""


def plugins_toml(
    tmp_path: Path, backend: str, *, kind: str = "adaptive_runtime", enabled: bool = True
) -> Path:
    path = tmp_path / f"plugins-{kind}.toml"
    text = NEMO_RELAY_TOML.format(kind=kind, enabled=str(enabled).lower(), backend=backend)
    path.write_text(text)
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(text)
    return path


def sql_backend(url: str) -> str:
    return f'kind = "sqlite"\nconfig = {{ url = "{url}" }}'


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    register_plugin()
    yield
    assert active_component() is None, "an activation was left open"


async def stored_run_count(url: str) -> int:
    backend = create_backend(BackendSpec.from_url(url))
    await backend.open()
    try:
        return len(await backend.list_run_ids(AGENT))
    finally:
        await backend.close()


def component() -> ActiveComponent:
    active = active_component()
    assert active is not None
    return active


async def test_a_nemo_relay_plugins_toml_activates_ours_with_only_kind_changed(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    backend = f'kind = "postgres"\nconfig = {{ url = "{fresh_postgres_url}" }}'
    theirs = plugins_toml(tmp_path, 'kind = "in_memory"', kind="adaptive")
    ours = plugins_toml(tmp_path, backend)
    # NeMo Relay's plugin host validates both without a diagnostic: same shape, same sections.
    assert nemo_relay.plugin.validate({}, theirs)["config"]["diagnostics"] == []
    assert nemo_relay.plugin.validate({}, ours)["config"]["diagnostics"] == []
    log = ProviderLog()

    async with nemo_relay.plugin.activate({}, ours) as activation:
        assert activation.report["config"]["diagnostics"] == []
        assert sorted(component().registrar.registered) == [  # type: ignore[union-attr]
            ("llm_execution", "adaptive_acg_llm_execution"),  # acg.provider = "anthropic"
            ("llm_request", "adaptive"),
            ("llm_stream_execution", "adaptive_acg_llm_stream_execution"),
            ("subscriber", "adaptive"),
            ("tool_execution", "adaptive"),
        ]
        await run_agent(3, provider_log=log, between_runs=wait_for_idle)
        await run_agent(2, provider_log=log)  # stored by the close, not by a wait

    assert await stored_run_count(fresh_postgres_url) == 5
    hinted = [headers[HEADER] for headers, _ in log.requests if HEADER in headers]
    assert len(hinted) == 2 * 4  # every request after the first run's
    assert all(hints["prefix_id"] == f"{AGENT}-d1" for hints in hinted)
    # NeMo Relay's call counter: one per runtime, so the hints count every request.
    assert [hints["total_requests"] for hints in hinted] == list(range(4, 12))


async def test_a_backend_url_stands_for_the_backend_table(tmp_path: Path, sqlite_url: str) -> None:
    text = plugins_toml(tmp_path, "").read_text()
    url_form = f'[components.config.state]\nbackend = "{sqlite_url}"\n'
    toml = write(tmp_path, text.replace("[components.config.state.backend]\n", url_form))
    async with nemo_relay.plugin.activate({}, toml):
        await run_agent(2)
    assert await stored_run_count(sqlite_url) == 2


async def test_closing_the_activation_stores_every_run(tmp_path: Path, sqlite_url: str) -> None:
    async with nemo_relay.plugin.activate({}, plugins_toml(tmp_path, sql_backend(sqlite_url))):
        await run_agent(25)
        thread = component().thread.thread
    assert await stored_run_count(sqlite_url) == 25
    assert not thread.is_alive()  # the runtime's thread is gone with the activation


async def test_wait_for_idle_sees_the_last_run_without_a_manual_flush(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A slow subscriber ahead of ours holds NeMo Relay's delivery back: without the flush
    inside ``wait_for_idle`` the run's events would not have reached us yet."""
    nemo_relay.subscribers.register("slow", lambda event: time.sleep(0.02))
    try:
        async with nemo_relay.plugin.activate({}, plugins_toml(tmp_path, sql_backend(sqlite_url))):
            await run_agent(1)
            await wait_for_idle()
            assert await stored_run_count(sqlite_url) == 1
    finally:
        nemo_relay.subscribers.deregister("slow")


async def test_a_missing_section_is_off(tmp_path: Path, sqlite_url: str) -> None:
    text = f"""\
[[components]]
kind = "adaptive_runtime"
[components.config.state.backend]
{sql_backend(sqlite_url)}
[components.config.adaptive_hints]
"""
    async with nemo_relay.plugin.activate({}, write(tmp_path, text)):
        assert component().registrar.registered == [("llm_request", "adaptive")]  # type: ignore[union-attr]
        assert component().runtime.learners == []  # type: ignore[union-attr]
        await run_agent(2)
    assert await stored_run_count(sqlite_url) == 0  # no telemetry: nothing subscribed to


async def test_telemetry_without_learners_stores_runs_and_learns_nothing(
    tmp_path: Path, sqlite_url: str
) -> None:
    text = f"""\
[[components]]
kind = "adaptive_runtime"
[components.config]
agent_id = "planner"
[components.config.state.backend]
{sql_backend(sqlite_url)}
[components.config.telemetry]
"""
    async with nemo_relay.plugin.activate({}, write(tmp_path, text)):
        await run_agent(2, between_runs=wait_for_idle)
        await wait_for_idle()
        assert component().runtime.hot_cache.plan is None  # type: ignore[union-attr]
    assert await stored_run_count(sqlite_url) == 2


async def test_a_disabled_component_activates_nothing(tmp_path: Path, sqlite_url: str) -> None:
    path = plugins_toml(tmp_path, sql_backend(sqlite_url), enabled=False)
    async with nemo_relay.plugin.activate({}, path):
        assert active_component() is None
        await run_agent(1)
    assert await stored_run_count(sqlite_url) == 0


async def test_an_invalid_value_refuses_the_activation_with_the_diagnostic(
    tmp_path: Path,
) -> None:
    text = plugins_toml(tmp_path, 'kind = "in_memory"').read_text()
    path = write(tmp_path, text.replace('provider = "anthropic"', 'provider = "gemini"'))
    expected = "acg provider 'gemini' is unsupported; expected anthropic, openai, or passthrough"
    report = nemo_relay.plugin.validate({}, path)["config"]["diagnostics"]
    assert report == [
        {
            "code": "adaptive.unsupported_value",
            "component": "acg",
            "field": "provider",
            "level": "error",
            "message": expected,
        }
    ]
    with pytest.raises(ValueError, match=expected):
        await nemo_relay.plugin.initialize({}, path)


async def test_one_component_per_process() -> None:
    """A plugins.toml cannot name a kind twice; a programmatic config can, and is refused."""
    one = {"kind": "adaptive_runtime", "config": {"adaptive_hints": {}}}
    with pytest.raises(RuntimeError, match="already active in this process"):
        await nemo_relay.plugin.initialize({"version": 1, "components": [one, one]})


async def test_an_unreachable_backend_fails_the_activation_in_one_line(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:1/adaptive"
    path = plugins_toml(tmp_path, f'kind = "postgres"\nconfig = {{ url = "{url}" }}')
    with pytest.raises(RuntimeError) as failed:
        await nemo_relay.plugin.initialize({}, path)
    message = str(failed.value)
    assert "\n" not in message and "127.0.0.1:1" in message and "unavailable" in message


async def test_the_response_cache_section_registers_the_cache(tmp_path: Path) -> None:
    text = """\
[[components]]
kind = "adaptive_runtime"
[components.config.response_cache]
namespace = "tests"
"""
    calls = ProviderLog()
    request = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    async with nemo_relay.plugin.activate({}, write(tmp_path, text)):
        registered = component().registrar.registered  # type: ignore[union-attr]
        assert ("llm_execution", "adaptive_response_cache_llm_execution") in registered
        for _ in range(2):
            await nemo_relay.llm.execute(
                PROVIDER, nemo_relay.LLMRequest({}, request), make_provider(calls)
            )
        cache = component().runtime.response_cache  # type: ignore[union-attr]
        assert cache is not None
        savings: dict[str, Any] = cache.savings.snapshot()
    assert len(calls.requests) == 1  # the second call was served from the cache
    assert savings["total"]["hits"] == 1


async def test_a_redis_response_cache_is_closed_on_the_agents_loop(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Its client connected on the agent's loop, so that is where closing must close it."""
    server, prefix = redis_url.split("?key_prefix=")
    text = f"""\
[[components]]
kind = "adaptive_runtime"
[components.config.response_cache]
namespace = "tests"
backend = {{ kind = "redis", config = {{ url = "{server}", key_prefix = "{prefix}cache:" }} }}
"""
    calls = ProviderLog()
    request = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    with caplog.at_level(logging.DEBUG, logger="adaptive.relay.plugin"):
        async with nemo_relay.plugin.activate({}, write(tmp_path, text)):
            for _ in range(2):
                await nemo_relay.llm.execute(
                    PROVIDER, nemo_relay.LLMRequest({}, request), make_provider(calls)
                )
            store = component().runtime.response_cache.store  # type: ignore[union-attr]
            closed_on: list[asyncio.AbstractEventLoop] = []
            close = store.close

            async def recording_close() -> None:
                closed_on.append(asyncio.get_running_loop())
                await close()

            store.close = recording_close  # type: ignore[method-assign]
    assert len(calls.requests) == 1
    assert closed_on == [asyncio.get_running_loop()]
    assert "was not closed" not in caplog.text
