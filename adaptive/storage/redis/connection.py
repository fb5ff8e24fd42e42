"""Redis clients from URLs, plain or cluster, built in one place.

``redis://``, ``rediss://`` (TLS) and ``unix://`` give a ``redis.asyncio.Redis``;
``redis+cluster://host:port[,host:port...]/`` and ``rediss+cluster://`` (TLS)
give a ``redis.asyncio.cluster.RedisCluster`` that discovers the cluster from
those seed nodes. The backend, ``RedisCohortGate.from_url`` and the Streams
transport all build their clients here, so every one of them follows the two
cluster rules below.

A cluster key prefix must carry a hash tag (``{nemo_relay}:``): a unit of work
WATCHes and writes several keys in one MULTI/EXEC, and Redis Cluster runs a
transaction only when all its keys share a slot. The tag puts every key of a
prefix in one slot; the keys are still exactly the ones NeMo Relay writes
with that prefix.

A cluster client retries nothing itself. After a connection error, redis-py's
cluster transaction pipeline (8.1) sends WATCH, and EXEC, again on a new
connection, where the keys watched on the lost one are no longer watched:
EXEC then overwrites whatever another writer committed meanwhile. With no
retries the error reaches the unit of work, which runs again from scratch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import redis
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio import cluster as redis_cluster
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from adaptive.errors import ConfigError
from adaptive.storage.redis.errors import translated_errors
from adaptive.storage.redis.keyspace import hash_tag
from adaptive.storage.redis.urls import CLUSTER_SCHEMES, display_url, split_url

RedisClient: TypeAlias = Redis | RedisCluster
"""What the backend, the cohort gate and the transport talk to."""

DEFAULT_PORT: Final = 6379
_BRACKETED = re.compile(r"^\[(?P<host>[^\]]+)\](?::(?P<port>[^:]*))?$")


@dataclass(frozen=True)
class RedisUrl:
    """A Redis URL taken apart: what redis-py gets, our options, and a cluster's seeds."""

    given: str
    client_url: str
    """The URL without our options; for a cluster, its first seed as ``redis(s)://``."""
    options: dict[str, str] = field(default_factory=dict)
    """Our options from the query (``key_prefix``, retention), by canonical name."""
    seeds: tuple[tuple[str, int], ...] = ()
    """The host and port of each seed node; empty for a single server."""
    display: str = ""
    """The URL without our options and with its password masked, for messages."""

    @property
    def cluster(self) -> bool:
        return bool(self.seeds)


def parse_url(url: str) -> RedisUrl:
    """Take ``url`` apart; ``ConfigError`` names what is wrong with it."""
    stripped, options = split_url(url)
    display = display_url(stripped)
    parts = urlsplit(stripped)
    scheme = parts.scheme.lower()
    if scheme not in CLUSTER_SCHEMES:
        return RedisUrl(url, stripped, options, (), display)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    seeds = tuple(_seed(entry, display) for entry in hosts.split(","))
    if parts.path not in ("", "/", "/0"):
        raise ConfigError(
            f"a Redis Cluster has only database 0; drop {parts.path!r} from {display!r}"
        )
    host, port = seeds[0]
    netloc = f"{userinfo}@" if userinfo else ""
    netloc += f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    first = urlunsplit((CLUSTER_SCHEMES[scheme], netloc, "/0", parts.query, ""))
    return RedisUrl(url, first, options, seeds, display)


def _seed(entry: str, display: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` as (host, port)."""
    bracketed = _BRACKETED.match(entry)
    if bracketed:
        host, port = bracketed["host"], bracketed["port"]
    else:
        host, _, port = entry.partition(":")
    try:
        number = int(port) if port else DEFAULT_PORT
    except ValueError:
        number = 0
    if not host or not 0 < number < 65536:
        raise ConfigError(
            f"bad seed node {entry!r} in {display!r}; list them as host:port,host2:port2"
        )
    return host, number


def check_cluster_prefix(prefix: str) -> None:
    """Refuse a cluster key prefix without a hash tag (see the module docstring)."""
    if hash_tag(prefix) is not None:
        return
    shared = prefix.replace("{", "").replace("}", "").rstrip(":") or "nemo_relay"
    raise ConfigError(
        f"key_prefix {prefix!r} has no hash tag, so on a Redis Cluster the keys of one "
        "unit of work fall in different slots and its WATCH/MULTI transaction cannot run; "
        f"brace the prefix, e.g. key_prefix={{{shared}}}: (the same keys NeMo Relay "
        "writes with that prefix)"
    )


def create_client(url: RedisUrl | str, *, key_prefix: str, **options: Any) -> RedisClient:
    """A client for ``url`` (not connected yet); ``options`` go to redis-py.

    ``key_prefix`` is the prefix of every key the caller will use; a cluster
    refuses one without a hash tag.
    """
    target = parse_url(url) if isinstance(url, str) else url
    try:
        if not target.cluster:
            return Redis.from_url(target.client_url, **options)
        check_cluster_prefix(key_prefix)
        _check_cluster_transactions()
        nodes = [ClusterNode(host, port) for host, port in target.seeds]
        return RedisCluster.from_url(
            target.client_url, startup_nodes=nodes, **_without_retries(options)
        )
    except (TypeError, ValueError, redis_errors.RedisClusterException) as error:
        raise ConfigError(f"bad Redis client option for {target.display}: {error}") from error


def _check_cluster_transactions() -> None:
    """Refuse a redis-py whose asyncio cluster pipeline cannot WATCH/MULTI (older releases
    refuse ``transaction=True``): every unit of work would fail, and the drain retry forever."""
    if not hasattr(redis_cluster, "TransactionStrategy"):
        raise ConfigError(
            f"redis+cluster:// needs a redis-py whose asyncio cluster pipeline runs "
            f"WATCH/MULTI transactions (8.1 does; this one is {redis.__version__}): "
            "pip install -U redis"
        )


def _without_retries(options: dict[str, Any]) -> dict[str, Any]:
    """The cluster client's options with its own retries off (see the module docstring)."""
    retry = options.get("retry")
    attempts = options.get("cluster_error_retry_attempts")
    if (retry is not None and retry.get_retries() > 0) or attempts:
        raise ConfigError(
            "a Redis Cluster client must not retry by itself: redis-py's cluster "
            "transactions resend WATCH/EXEC on a new connection without the keys watched "
            "on the lost one; drop retry/cluster_error_retry_attempts (a unit of work that "
            "lost its connection runs again, and the drain retries outages)"
        )
    return {**options, "retry": retry or Retry(NoBackoff(), 0)}


async def open_client(url: RedisUrl | str, *, key_prefix: str, **options: Any) -> RedisClient:
    """``create_client``, then one round trip, so that a wrong address, scheme or option
    fails here with a message saying what to change, not on first use."""
    target = parse_url(url) if isinstance(url, str) else url
    client = create_client(target, key_prefix=key_prefix, **options)
    try:
        with translated_errors("opening the connection", target.display):
            await _check_kind(client, target)
    except TypeError as error:  # redis-py checks some options when it first connects
        await client.aclose()
        raise ConfigError(f"bad Redis client option for {target.display}: {error}") from error
    except BaseException:
        await client.aclose()
        raise
    return client


async def _check_kind(client: RedisClient, target: RedisUrl) -> None:
    """Refuse a cluster URL naming a single server, and a single-server URL naming a cluster
    node (whose MOVED replies would read as an outage that never ends)."""
    if isinstance(client, RedisCluster):
        try:
            await client.initialize()
        except redis_errors.RedisClusterException as error:
            if "not enabled" in str(error.__cause__ or ""):
                raise ConfigError(
                    f"{target.display} is not a Redis Cluster (cluster mode is disabled "
                    "there); name it redis://host:port/0"
                ) from error
            raise
        await client.ping()
        return
    await client.ping()
    try:
        info = await client.info("cluster")
    except redis_errors.ResponseError:  # INFO not allowed to this user: take the URL's word
        return
    if info.get("cluster_enabled") == 1:
        raise ConfigError(
            f"{target.display} is a Redis Cluster node; name the cluster "
            "redis+cluster://host:port[,host2:port2]/?key_prefix={nemo_relay}:"
        )
