"""Transport URLs: which Redis, which stream, which consumer group.

::

    redis+streams://[user[:password]@]host[:port][/db][?stream=adaptive:runs&group=adaptive-workers]
    rediss+streams://...                                   (TLS)
    redis+streams+cluster://host:7000,host2:7001/?stream={adaptive}:runs
    rediss+streams+cluster://...                           (TLS cluster)

Without ``+streams`` these are the backend's Redis URLs, and the client is
built by the same ``open_client``; other query options go to redis-py. Every
key the transport uses derives from the stream's name (dead letters, failure
reasons, commit notices), so on a cluster the name must carry a hash tag for
them to share the stream's slot: moving an entry to the dead-letter stream
and acknowledging it is then one MULTI/EXEC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from adaptive.errors import ConfigError

SCHEMES: Final = {
    "redis+streams": "redis",
    "rediss+streams": "rediss",
    "redis+streams+cluster": "redis+cluster",
    "rediss+streams+cluster": "rediss+cluster",
}
"""Transport schemes, and the Redis URL scheme each stands for."""
DEFAULT_STREAM: Final = "adaptive:runs"
DEFAULT_CLUSTER_STREAM: Final = "{adaptive}:runs"
DEFAULT_GROUP: Final = "adaptive-workers"
OPTIONS: Final = ("stream", "group")


@dataclass(frozen=True)
class TransportTarget:
    """A transport URL taken apart: the Redis URL, and the names derived from the stream."""

    given: str
    redis_url: str
    """The Redis URL (``redis://``, ``redis+cluster://``, ...) without our options."""
    stream: str
    group: str
    cluster: bool

    @property
    def dead_letter(self) -> str:
        """Entries that failed too often, with their reason (a stream)."""
        return f"{self.stream}:dead-letter"

    @property
    def failures(self) -> str:
        """Last failure reason per entry id still pending (a hash)."""
        return f"{self.stream}:failures"

    def channel(self, agent_id: str) -> str:
        """Where workers announce commits for an agent (pub/sub)."""
        return f"{self.stream}:committed:{agent_id}"

    @property
    def display(self) -> str:
        from adaptive.storage.redis.urls import display_url

        return display_url(self.given)


def parse_transport_url(url: str) -> TransportTarget:
    """Take a transport URL apart; ``ConfigError`` says what to write instead."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(
            f"unknown transport URL scheme {parts.scheme!r} in {_masked(url)!r}; use "
            "redis+streams://host:6379/0?stream=adaptive:runs or "
            "redis+streams+cluster://host:7000,host2:7001/?stream={adaptive}:runs"
        )
    ours: dict[str, str] = {}
    theirs: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in OPTIONS:
            ours[name] = value
        else:
            theirs.append((name, value))
    cluster = scheme.endswith("+cluster")
    stream = ours.get("stream") or (DEFAULT_CLUSTER_STREAM if cluster else DEFAULT_STREAM)
    group = ours.get("group") or DEFAULT_GROUP
    redis_url = urlunsplit(parts._replace(scheme=SCHEMES[scheme], query=urlencode(theirs)))
    if cluster:
        _check_cluster_stream(stream)
    return TransportTarget(url, redis_url, stream, group, cluster)


def _check_cluster_stream(stream: str) -> None:
    from adaptive.storage.redis.keyspace import hash_tag

    if hash_tag(stream) is None:
        bare = stream.replace("{", "").replace("}", "") or "adaptive"
        raise ConfigError(
            f"stream {stream!r} has no hash tag, so on a Redis Cluster its dead-letter "
            "stream and failure reasons fall in other slots and an entry cannot be moved "
            f"and acknowledged in one transaction; brace it, e.g. stream={{{bare}}}"
        )


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
