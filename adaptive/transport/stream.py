"""The Redis Stream of completed runs, and every command the transport sends to it.

Publishers XADD one entry per run (``entry.py``) in one pipeline per batch.
Workers read through a consumer group, so each entry goes to one worker and
stays in the group's pending list until that worker acknowledges it after
its unit of work committed. A worker that dies leaves its entries pending;
another claims them once they have been idle for the claim timeout.

**Trimming.** The stream is cut with ``XTRIM MINID`` at the oldest entry some
consumer group still needs: the oldest pending entry of each group, or, for a
group with none pending, the entry after the last one delivered to it. That
floor only moves forward while it is computed (acknowledging raises it, new
deliveries are above it), so a trim never removes an entry a group has not
acknowledged. No group at all means nothing was consumed: nothing is trimmed.
A blind ``MAXLEN`` would drop runs no worker had learned.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from adaptive.storage.redis.errors import translated_errors
from adaptive.transport.entry import Fields
from adaptive.transport.url import TransportTarget

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

    from adaptive.storage.redis.connection import RedisClient

StreamId = bytes

HEARTBEAT_SCRIPT: Final = """
local kept = {}
for i = 3, #ARGV do
  local entry = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if entry[1] and entry[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    table.insert(kept, ARGV[i])
  end
end
return kept
"""
"""Reset the idle time of the entries a consumer still owns (not the others'), so that a
worker busy with a long unit, or waiting out a storage outage, keeps them: XCLAIM
JUSTID resets the idle time without counting a delivery."""


@dataclass(frozen=True)
class Delivery:
    """An entry handed to this worker, and how many times it was handed out in all."""

    entry_id: StreamId
    fields: Fields
    deliveries: int = 1


@dataclass(frozen=True)
class GroupFigures:
    """What the stream holds for one consumer group (for metrics and the backlog bound)."""

    length: int
    lag: int | None
    """Entries not yet delivered to the group (``None`` when Redis cannot tell)."""
    pending: int
    """Entries delivered but not acknowledged."""


def parse_id(entry_id: StreamId | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


def id_after(entry_id: StreamId | str) -> str:
    """The smallest id greater than ``entry_id``."""
    milliseconds, sequence = parse_id(entry_id)
    return f"{milliseconds}-{sequence + 1}"


class RunStream:
    """One client, one stream, one consumer group: the transport's Redis commands."""

    def __init__(self, client: RedisClient, target: TransportTarget) -> None:
        self.client = client
        self.target = target
        self._claim_cursor: str = "0-0"
        self._heartbeat: AsyncScript | None = None

    @classmethod
    async def open(cls, target: TransportTarget, **options: Any) -> RunStream:
        """Connect (one round trip, so a wrong URL fails here with a clear message)."""
        from adaptive.storage.redis.connection import open_client

        client = await open_client(target.redis_url, key_prefix=target.stream, **options)
        return cls(client, target)

    async def close(self) -> None:
        await self.client.aclose()

    def _errors(self, action: str) -> Any:
        return translated_errors(f"{action} stream {self.target.stream!r}", self.target.display)

    # -- publishing -------------------------------------------------------------

    async def publish(self, entries: Sequence[Fields]) -> int:
        """Append the entries in one pipelined round trip; the stream's length after."""
        with self._errors("publishing to"):
            async with self.client.pipeline(transaction=False) as pipe:
                for fields in entries:
                    pipe.xadd(self.target.stream, fields)  # type: ignore[arg-type]
                pipe.xlen(self.target.stream)
                replies = await pipe.execute()
        return int(replies[-1])

    async def length(self) -> int:
        with self._errors("measuring"):
            return int(await self.client.xlen(self.target.stream))

    # -- consuming --------------------------------------------------------------

    async def ensure_group(self) -> None:
        """Create the consumer group at the start of the stream (and the stream) if missing."""
        from redis.exceptions import ResponseError

        with self._errors("creating the consumer group of"):
            try:
                await self.client.xgroup_create(
                    self.target.stream, self.target.group, id="0", mkstream=True
                )
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def read_new(self, consumer: str, count: int, block_ms: int | None) -> list[Delivery]:
        """Entries never delivered to the group, now this consumer's to acknowledge."""
        from redis.exceptions import ResponseError

        with self._errors("reading"):
            try:
                reply = await self.client.xreadgroup(
                    self.target.group,
                    consumer,
                    {self.target.stream: ">"},
                    count=count,
                    block=block_ms,
                )
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                await self.ensure_group()  # the stream or group was deleted: start again
                return []
        return [Delivery(entry_id, fields) for entry_id, fields in _entries_of(reply)]

    async def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Delivery]:
        """Entries idle for ``min_idle_ms`` in other consumers' hands (dead or stuck
        workers), now this consumer's, with how often each was delivered so far."""
        with self._errors("claiming idle entries of"):
            reply = await self.client.xautoclaim(
                self.target.stream,
                self.target.group,
                consumer,
                min_idle_ms,
                start_id=self._claim_cursor,
                count=count,
            )
            cursor, entries = reply[0], reply[1]
            self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
            claimed = [(entry_id, fields) for entry_id, fields in entries if fields is not None]
            if not claimed:
                return []
            counts = await self._delivery_counts(consumer, [entry_id for entry_id, _ in claimed])
        return [Delivery(entry_id, fields, counts.get(entry_id, 1)) for entry_id, fields in claimed]

    @property
    def claim_scan_done(self) -> bool:
        """Whether the last claim scan reached the end of the pending list."""
        return self._claim_cursor == "0-0"

    async def _delivery_counts(self, consumer: str, ids: list[StreamId]) -> dict[StreamId, int]:
        ordered = sorted(ids, key=parse_id)
        rows = await self.client.xpending_range(
            self.target.stream,
            self.target.group,
            min=ordered[0],
            max=ordered[-1],
            count=len(ids) * 2 + 16,
            consumername=consumer,
        )
        return {_raw(row["message_id"]): int(row["times_delivered"]) for row in rows}

    async def heartbeat(self, consumer: str, ids: Sequence[StreamId]) -> set[StreamId]:
        """Keep the entries this consumer still owns from being claimed; the ids it owns."""
        if not ids:
            return set()
        if self._heartbeat is None:
            self._heartbeat = self.client.register_script(HEARTBEAT_SCRIPT)
        with self._errors("renewing entries of"):
            kept = await self._heartbeat(
                keys=[self.target.stream], args=[self.target.group, consumer, *ids]
            )
        return set(kept)

    async def acknowledge(self, ids: Sequence[StreamId]) -> None:
        """Done with these entries: out of the pending list (then trimmable), reasons forgotten."""
        if not ids:
            return
        with self._errors("acknowledging entries of"):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xack(self.target.stream, self.target.group, *ids)
                pipe.hdel(self.target.failures, *ids)
                await pipe.execute()

    async def record_failure(self, entry_id: StreamId, reason: str) -> None:
        """Remember why an entry failed, for the dead letter if it keeps failing."""
        with self._errors("recording a failure for"):
            await self.client.hset(self.target.failures, entry_id, reason)

    async def failure_reasons(self, ids: Sequence[StreamId]) -> dict[StreamId, str]:
        if not ids:
            return {}
        with self._errors("reading failure reasons of"):
            values = await self.client.hmget(self.target.failures, list(ids))
        return {
            entry_id: _raw(value).decode(errors="replace")
            for entry_id, value in zip(ids, values, strict=True)
            if value is not None
        }

    async def dead_letter(self, delivery: Delivery, reason: str, consumer: str) -> None:
        """Move an entry to the dead-letter stream with its reason, and acknowledge it,
        atomically: it is never both lost and acknowledged, nor dead twice."""
        letter: dict[bytes, bytes] = {
            **delivery.fields,
            b"reason": reason.encode(),
            b"entry_id": delivery.entry_id,
            b"deliveries": str(delivery.deliveries).encode(),
            b"consumer": consumer.encode(),
            b"dead_at_ms": str(int(time.time() * 1000)).encode(),
        }
        with self._errors("dead-lettering an entry of"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.xadd(self.target.dead_letter, letter)  # type: ignore[arg-type]
                pipe.xack(self.target.stream, self.target.group, delivery.entry_id)
                pipe.hdel(self.target.failures, delivery.entry_id)
                await pipe.execute()

    async def delete_consumer_if_idle(self, consumer: str) -> None:
        """A worker leaving cleanly removes its consumer when it holds no entries."""
        with self._errors("leaving the consumer group of"):
            pending = await self.client.xpending_range(
                self.target.stream, self.target.group, min="-", max="+", count=1,
                consumername=consumer,
            )  # fmt: skip
            if not pending:
                await self.client.xgroup_delconsumer(
                    self.target.stream, self.target.group, consumer
                )

    # -- the group's backlog and trimming -----------------------------------------------

    async def figures(self) -> GroupFigures:
        """Length, and the lag and pending entries of our group (zeros before it exists)."""
        with self._errors("inspecting"):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xlen(self.target.stream)
                pipe.xinfo_groups(self.target.stream)
                length, groups = await pipe.execute(raise_on_error=False)
            if isinstance(length, Exception):
                raise length
        for group in [] if isinstance(groups, Exception) else groups:
            if _text(group["name"]) == self.target.group:
                lag = group.get("lag")
                lag = None if lag is None else int(lag)
                return GroupFigures(int(length), lag, int(group["pending"]))
        return GroupFigures(int(length), int(length), 0)

    async def trim(self) -> int:
        """Cut what every consumer group acknowledged (module docstring); entries removed."""
        from redis.exceptions import ResponseError

        with self._errors("trimming"):
            try:
                groups = await self.client.xinfo_groups(self.target.stream)
            except ResponseError:  # no such stream yet
                return 0
            if not groups:
                return 0
            floor: tuple[int, int] | None = None
            for group in groups:
                needed = await self._oldest_needed(group)
                floor = needed if floor is None else min(floor, needed)
            assert floor is not None
            if floor <= (0, 1):
                return 0
            removed = await self.client.xtrim(
                self.target.stream, minid=f"{floor[0]}-{floor[1]}", approximate=False
            )
        return int(removed)

    async def _oldest_needed(self, group: dict[str, Any]) -> tuple[int, int]:
        """The oldest entry ``group`` has not acknowledged (pending, or next to deliver)."""
        if int(group["pending"]):
            summary = await self.client.xpending(self.target.stream, group["name"])
            if summary["min"] is not None:
                return parse_id(summary["min"])
        return parse_id(id_after(group["last-delivered-id"]))

    # -- commit notices ------------------------------------------------------------

    async def announce(self, agent_id: str, message: bytes) -> None:
        """Tell the agent processes of ``agent_id`` that workers committed its runs."""
        with self._errors("announcing a commit on"):
            await self.client.publish(self.target.channel(agent_id), message)


def _entries_of(reply: Any) -> list[tuple[StreamId, Fields]]:
    """The entries of an XREADGROUP reply on one stream (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(next(iter(reply.values()))[0])
    return list(reply[0][1])


def _raw(value: object) -> bytes:
    """A reply as bytes (the client does not decode responses)."""
    return value if isinstance(value, bytes) else str(value).encode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
