"""``adaptive worker`` processes against real PostgreSQL and Redis: at least once, learned once."""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from pathlib import Path

from sqlalchemy import text

from adaptive.records import CallKind
from adaptive.storage.sql import SqlBackend
from adaptive.transport.publisher import StreamPublisher
from tests.factories import call, run_with
from tests.storage.figures import assert_same_learning, single_process_export
from tests.storage.test_sql import REJECTING_TRIGGER
from tests.traces import replicated_trace, write_trace
from tests.transport.support import (
    StreamView,
    exported,
    publish_trace,
    start_worker,
    stop_worker,
    stored_run_ids,
    wait_stored,
    wait_until,
    workers,
)


def summary_figure(summary: str, name: str) -> int:
    match = re.search(rf"{name} (\d+)", summary)
    assert match is not None, summary
    return int(match.group(1))


def agent_name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:6]}"


async def test_two_workers_on_two_agents_store_and_learn_each_run_once(
    transport_url: str, fresh_postgres_url: str, tmp_path: Path
) -> None:
    agents = [agent_name("a"), agent_name("b")]
    traces = [write_trace(replicated_trace(5), tmp_path / f"{a}.jsonl") for a in agents]
    with workers(
        start_worker(transport_url, fresh_postgres_url, tmp_path, consumer="one"),
        start_worker(transport_url, fresh_postgres_url, tmp_path, consumer="two"),
    ) as (one, two):
        pairs = zip(traces, agents, strict=True)
        published = await asyncio.gather(
            *(publish_trace(t, transport_url, fresh_postgres_url, a) for t, a in pairs)
        )
        assert published == [200, 200]
        for agent in agents:
            await wait_stored(fresh_postgres_url, agent, 200)
        summaries = [stop_worker(one), stop_worker(two)]
    assert sum(summary_figure(s, "runs stored") for s in summaries) == 400
    for agent, trace in zip(agents, traces, strict=True):
        state = await exported(fresh_postgres_url, agent)
        assert_same_learning(state, await single_process_export(trace, agent), agent)
    view = StreamView(transport_url)
    try:
        assert view.pending() == 0
        assert view.length() == 0  # all acknowledged, so all trimmed
    finally:
        view.close()


async def test_a_killed_workers_entries_are_claimed_and_learned_once(
    transport_url: str, fresh_postgres_url: str, tmp_path: Path
) -> None:
    agent = agent_name("planner")
    trace = write_trace(replicated_trace(10), tmp_path / "trace.jsonl")  # 400 runs
    assert await publish_trace(trace, transport_url, fresh_postgres_url, agent) == 400
    view = StreamView(transport_url)
    try:
        doomed_worker = start_worker(transport_url, fresh_postgres_url, tmp_path, consumer="doomed")
        with workers(doomed_worker) as (doomed,):
            await wait_until(
                lambda: view.pending("doomed") > 0, 60, "the first worker holds entries"
            )
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=30)
        held = view.pending("doomed")
        assert held > 0  # it died holding entries it never acknowledged
        heir_worker = start_worker(transport_url, fresh_postgres_url, tmp_path, consumer="heir")
        with workers(heir_worker) as (heir,):
            await wait_stored(fresh_postgres_url, agent, 400)
            await wait_until(lambda: view.pending() == 0, 60, "every entry acknowledged")
            summary = stop_worker(heir)
        assert summary_figure(summary, "claimed") >= held
        assert view.dead_letters() == []
    finally:
        view.close()
    run_ids = await stored_run_ids(fresh_postgres_url, agent)
    assert len(run_ids) == len(set(run_ids)) == 400
    state = await exported(fresh_postgres_url, agent)
    assert_same_learning(state, await single_process_export(trace, agent), agent)


async def test_poison_entries_go_to_the_dead_letter_stream_and_the_rest_is_learned(
    transport_url: str, fresh_postgres_url: str, tmp_path: Path
) -> None:
    backend = SqlBackend(fresh_postgres_url)
    await backend.open()
    async with backend.engine.begin() as connection:
        for statement in REJECTING_TRIGGER["postgresql"]:
            await connection.execute(text(statement))
    await backend.close()
    agent = agent_name("planner")
    trace = write_trace(replicated_trace(1), tmp_path / "trace.jsonl")
    view = StreamView(transport_url)
    publisher = StreamPublisher.from_url(transport_url)
    await publisher.open()
    try:
        garbage = view.add_raw({"v": "1", "agent": agent, "run": "{not json"})
        refused = run_with([call(CallKind.TOOL, "rejected", 0, 1)], agent=agent)
        await publisher.commit([refused])
        assert await publish_trace(trace, transport_url, fresh_postgres_url, agent) == 40
        with workers(start_worker(transport_url, fresh_postgres_url, tmp_path)) as (worker,):
            await wait_stored(fresh_postgres_url, agent, 40)
            await wait_until(lambda: len(view.dead_letters()) == 2, 60, "2 dead letters")
            await wait_until(lambda: view.pending() == 0, 30, "nothing pending")
            summary = stop_worker(worker)
        letters = {letter["entry_id"]: letter for letter in view.dead_letters()}
        assert letters[garbage]["reason"].startswith("undecodable entry: 'run' is not a run")
        (rejected,) = [letter for key, letter in letters.items() if key != garbage]
        assert rejected["reason"].startswith("delivered 3 times without a commit: rejected by")
        assert "refused by a test trigger" in rejected["reason"]
        assert str(refused.id) in rejected["run"] and rejected["agent"] == agent
        assert summary_figure(summary, "dead-lettered") == 2
    finally:
        await publisher.close()
        view.close()
    state = await exported(fresh_postgres_url, agent)
    assert str(refused.id) not in state[f"runs_index:{agent}"]
    assert_same_learning(state, await single_process_export(trace, agent), agent)


async def test_sigterm_finishes_the_unit_in_hand_and_acknowledges_it(
    transport_url: str, fresh_postgres_url: str, tmp_path: Path
) -> None:
    agent = agent_name("planner")
    trace = write_trace(replicated_trace(10), tmp_path / "trace.jsonl")
    assert await publish_trace(trace, transport_url, fresh_postgres_url, agent) == 400
    view = StreamView(transport_url)
    try:
        with workers(start_worker(transport_url, fresh_postgres_url, tmp_path, consumer="t")) as (
            worker,
        ):
            await wait_until(lambda: view.pending("t") > 0, 60, "the worker holds entries")
            summary = stop_worker(worker)  # SIGTERM mid-unit: exits 0
        assert view.pending() == 0  # what it held was committed and acknowledged
        stored = await stored_run_ids(fresh_postgres_url, agent)
        acknowledged = summary_figure(summary, "acknowledged")
        assert 0 < len(stored) == acknowledged == summary_figure(summary, "runs stored") < 400
        group = view.group()
        assert group is not None and group["consumers"] == 0  # it left the group
        with workers(start_worker(transport_url, fresh_postgres_url, tmp_path)) as (rest,):
            await wait_stored(fresh_postgres_url, agent, 400)
            stop_worker(rest)
    finally:
        view.close()
    assert len(set(await stored_run_ids(fresh_postgres_url, agent))) == 400
