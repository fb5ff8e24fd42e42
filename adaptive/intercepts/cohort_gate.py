"""Cohort gates for warm-first tool scheduling (seed 000).

Tools of a learned parallel group form a cohort per (root uuid, shared parent
uuid, group id). The first caller becomes the primer and runs at once; the
others are followers and wait for the primer to finish — at most 150 ms, then
they run anyway — so that the primer warms the prompt cache they share. After
the primer released its cohort, the next caller starts a new one (it is a
primer again), as in NeMo Relay.

``LocalCohortGate`` does this within one process. ``RedisCohortGate`` does it
across every process sharing a Redis: the primer is whoever sets the gate key
first (``SET NX PX``; the expiry frees the key if the primer dies), and its
release deletes the gate key and pushes release tokens onto a list the
followers block on (``BLPOP`` with the remaining wait as timeout), all in one
transaction. The tokens expire shortly after the release, so no key outlives
its cohort for long. On a Redis Cluster the gate and release keys of a cohort
must share a slot for that transaction, so the key prefix must carry a hash
tag (``{nemo_relay}:``), as the backend's must.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID, uuid4

if TYPE_CHECKING:
    from adaptive.storage.redis.connection import RedisClient

WARM_FIRST_MAX_WAIT_S = 0.150
"""The longest a follower waits for its primer (NeMo Relay's 150 ms)."""


class CohortRole(StrEnum):
    PRIMER = "primer"
    FOLLOWER = "follower"


def cohort_key(root_uuid: UUID, shared_parent_uuid: UUID, group_id: str) -> str:
    return f"{root_uuid}:{shared_parent_uuid}:{group_id}"


class CohortGate(Protocol):
    """Primer/follower coordination for one cohort key at a time."""

    async def join(self, cohort: str) -> CohortRole:
        """Become the cohort's primer if it has none running, else a follower."""
        ...

    async def release(self, cohort: str) -> None:
        """The primer is done: release every follower of the cohort."""
        ...

    async def wait(self, cohort: str, max_wait: float = WARM_FIRST_MAX_WAIT_S) -> bool:
        """As a follower, wait for the release; False when ``max_wait`` ran out first."""
        ...


class LocalCohortGate:
    """Cohorts of one process; an entry lives from its primer's join to its release."""

    def __init__(self) -> None:
        self._released: dict[str, asyncio.Event] = {}

    def __len__(self) -> int:
        """Open cohorts (for checking that none outlives its primer)."""
        return len(self._released)

    async def join(self, cohort: str) -> CohortRole:
        if cohort in self._released:
            return CohortRole.FOLLOWER
        self._released[cohort] = asyncio.Event()
        return CohortRole.PRIMER

    async def release(self, cohort: str) -> None:
        event = self._released.pop(cohort, None)
        if event is not None:
            event.set()

    async def wait(self, cohort: str, max_wait: float = WARM_FIRST_MAX_WAIT_S) -> bool:
        event = self._released.get(cohort)
        if event is None:
            return True
        try:
            await asyncio.wait_for(event.wait(), max_wait)
        except TimeoutError:
            return False
        return True


class RedisCohortGate:
    """Cohorts shared by every process using one Redis or Redis Cluster (and key prefix).

    ``client`` is a ``redis.asyncio.Redis`` or ``RedisCluster``, or a callable
    returning one (a backend opened later); ``from_url`` builds one the gate
    owns. ``release_tokens`` bounds how many followers one release wakes at
    once (a follower beyond that waits out its timeout); group widths are a
    handful of tools, so the default leaves wide room.
    """

    def __init__(
        self,
        client: RedisClient | Callable[[], RedisClient],
        key_prefix: str = "nemo_relay:",
        *,
        primer_ttl_s: float = 30.0,
        release_ttl_s: float = 1.0,
        release_tokens: int = 64,
    ) -> None:
        if not callable(client):
            _check_prefix_for(client, key_prefix)
        self._client = client
        self._owns_client = False
        self.key_prefix = key_prefix
        self.primer_ttl_ms = int(primer_ttl_s * 1000)
        self.release_ttl_ms = int(release_ttl_s * 1000)
        self.release_tokens = release_tokens
        self.process_token = uuid4().hex

    @classmethod
    def from_url(
        cls, url: str, *, key_prefix: str | None = None, **client_options: Any
    ) -> RedisCohortGate:
        """A gate with a client of its own for ``url`` (``redis://``, ``redis+cluster://``...);
        ``key_prefix`` may also be the URL's. Close it with ``aclose``."""
        from adaptive.storage.redis.connection import create_client, parse_url
        from adaptive.storage.redis.urls import settings_from

        target = parse_url(url)
        prefix = settings_from(target.options, key_prefix, None, None).key_prefix
        gate = cls(create_client(target, key_prefix=prefix, **client_options), prefix)
        gate._owns_client = True
        return gate

    async def aclose(self) -> None:
        """Close the client if the gate made it (``from_url``); a given one is the giver's."""
        if self._owns_client and not callable(self._client):
            await self._client.aclose()

    @property
    def client(self) -> RedisClient:
        """The client, resolved per call when given as a callable (a backend opened later)."""
        client = self._client
        return client() if callable(client) else client

    def _gate_key(self, cohort: str) -> str:
        return f"{self.key_prefix}cohort_gate:{cohort}"

    def _release_key(self, cohort: str) -> str:
        return f"{self.key_prefix}cohort_release:{cohort}"

    async def join(self, cohort: str) -> CohortRole:
        became_primer = await self.client.set(
            self._gate_key(cohort), self.process_token, nx=True, px=self.primer_ttl_ms
        )
        return CohortRole.PRIMER if became_primer else CohortRole.FOLLOWER

    async def release(self, cohort: str) -> None:
        release_key = self._release_key(cohort)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._gate_key(cohort))
            pipe.rpush(release_key, *(["1"] * self.release_tokens))
            pipe.pexpire(release_key, self.release_ttl_ms)
            await pipe.execute()

    async def wait(self, cohort: str, max_wait: float = WARM_FIRST_MAX_WAIT_S) -> bool:
        """Block on the release list, capped here rather than by the server.

        Redis checks blocked clients' timeouts on its server tick (every 100 ms at
        the default ``hz 10``), so a server-side 150 ms timeout can stretch to
        250 ms. The client stops waiting at ``max_wait`` instead; redis-py drops
        the connection the cancelled BLPOP was on, and the server's own (later)
        timeout frees the key should the disconnect be slow.
        """
        release_key = self._release_key(cohort)
        try:
            async with asyncio.timeout(max_wait):
                popped = await self.client.blpop([release_key], timeout=max_wait + 1.0)
        except TimeoutError:
            return False
        return popped is not None


def _check_prefix_for(client: Any, key_prefix: str) -> None:
    """On a cluster client, refuse a prefix that would split a cohort's keys across slots."""
    from redis.asyncio.cluster import RedisCluster

    if isinstance(client, RedisCluster):
        from adaptive.storage.redis.connection import check_cluster_prefix

        check_cluster_prefix(key_prefix)
