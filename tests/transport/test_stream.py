"""The stream's commands against a real Redis: trimming, claims, renewals, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adaptive.records import CallKind
from adaptive.transport.entry import encode
from adaptive.transport.stream import RunStream
from adaptive.transport.url import parse_transport_url
from tests.factories import call, run_with


@pytest.fixture
async def stream(transport_url: str) -> AsyncIterator[RunStream]:
    opened = await RunStream.open(parse_transport_url(transport_url))
    try:
        yield opened
    finally:
        await opened.close()


async def publish(stream: RunStream, count: int) -> None:
    runs = [run_with([call(CallKind.TOOL, "t", 0, 1)]) for _ in range(count)]
    await stream.publish([encode(run) for run in runs])


async def test_nothing_is_trimmed_before_a_group_consumed_it(stream: RunStream) -> None:
    await publish(stream, 5)
    assert await stream.trim() == 0
    await stream.ensure_group()
    assert await stream.trim() == 0  # a group that has read nothing needs every entry
    assert await stream.length() == 5


async def test_only_what_the_group_acknowledged_below_its_oldest_pending_is_trimmed(
    stream: RunStream,
) -> None:
    await publish(stream, 10)
    await stream.ensure_group()
    taken = await stream.read_new("a", 6, None)
    assert len(taken) == 6
    await stream.acknowledge([taken[0].entry_id, taken[1].entry_id, taken[3].entry_id])
    assert await stream.trim() == 2  # entry 2 is still pending: 2..9 stay
    assert await stream.length() == 8
    await stream.acknowledge([delivery.entry_id for delivery in taken])
    assert await stream.trim() == 4  # 6..9 were never delivered
    figures = await stream.figures()
    assert (figures.length, figures.pending, figures.lag) == (4, 0, 4)


async def test_every_group_holds_the_trim_floor(stream: RunStream, transport_url: str) -> None:
    await publish(stream, 4)
    await stream.ensure_group()
    other = RunStream(stream.client, parse_transport_url(transport_url + "&group=audit"))
    await other.ensure_group()
    taken = await stream.read_new("a", 10, None)
    await stream.acknowledge([delivery.entry_id for delivery in taken])
    assert await stream.trim() == 0  # "audit" has read nothing
    audited = await other.read_new("x", 2, None)
    await other.acknowledge([delivery.entry_id for delivery in audited])
    assert await stream.trim() == 2
    assert await stream.length() == 2


async def test_idle_entries_are_claimed_with_their_delivery_count(stream: RunStream) -> None:
    await publish(stream, 3)
    await stream.ensure_group()
    held = await stream.read_new("dead", 3, None)
    assert await stream.claim_stale("b", 60_000, 10) == []  # not idle long enough
    await asyncio.sleep(0.15)
    claimed = await stream.claim_stale("b", 100, 10)
    assert [d.entry_id for d in claimed] == [d.entry_id for d in held]
    assert [d.deliveries for d in claimed] == [2, 2, 2]
    assert [d.fields for d in claimed] == [d.fields for d in held]


async def test_renewing_keeps_entries_from_being_claimed_and_says_which_are_still_ours(
    stream: RunStream,
) -> None:
    await publish(stream, 2)
    await stream.ensure_group()
    held = [d.entry_id for d in await stream.read_new("a", 2, None)]
    for _ in range(3):
        await asyncio.sleep(0.1)
        assert await stream.heartbeat("a", held) == set(held)
    assert await stream.claim_stale("b", 200, 10) == []  # renewed: never idle for 200 ms
    await asyncio.sleep(0.25)
    assert len(await stream.claim_stale("b", 200, 10)) == 2
    assert await stream.heartbeat("a", held) == set()  # b owns them now
    pending = await stream.client.xpending(stream.target.stream, stream.target.group)
    assert [(c["name"], c["pending"]) for c in pending["consumers"]] == [(b"b", 2)]


async def test_a_dead_letter_carries_the_entry_and_its_reason_and_is_acknowledged(
    stream: RunStream,
) -> None:
    await publish(stream, 2)
    await stream.ensure_group()
    first, second = await stream.read_new("a", 2, None)
    await stream.record_failure(first.entry_id, "rejected by the backend: boom")
    assert await stream.failure_reasons([first.entry_id, second.entry_id]) == {
        first.entry_id: "rejected by the backend: boom"
    }
    await stream.dead_letter(first, "delivered 3 times without a commit: boom", "a")
    letters = await stream.client.xrange(stream.target.dead_letter)
    assert len(letters) == 1
    letter = letters[0][1]
    assert letter[b"run"] == first.fields[b"run"] and letter[b"entry_id"] == first.entry_id
    assert letter[b"reason"] == b"delivered 3 times without a commit: boom"
    assert await stream.failure_reasons([first.entry_id]) == {}
    summary = await stream.client.xpending(stream.target.stream, stream.target.group)
    assert summary["pending"] == 1  # only the second is still pending


async def test_a_consumer_that_holds_nothing_leaves_the_group(stream: RunStream) -> None:
    await publish(stream, 1)
    await stream.ensure_group()
    (held,) = await stream.read_new("a", 1, None)
    await stream.delete_consumer_if_idle("a")  # still holds an entry: stays
    consumers = await stream.client.xinfo_consumers(stream.target.stream, stream.target.group)
    assert [c["name"] for c in consumers] == [b"a"]
    await stream.acknowledge([held.entry_id])
    await stream.delete_consumer_if_idle("a")
    assert await stream.client.xinfo_consumers(stream.target.stream, stream.target.group) == []
