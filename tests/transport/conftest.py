"""Transport URLs of a test's own: a fresh stream on the shared Redis, or on the cluster."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import ThrowawayRedisCluster


def streams_url(redis_url: str, stream: str) -> str:
    """``redis://host:port/db`` as the transport URL of ``stream``."""
    return f"redis+streams://{redis_url.split('://', 1)[1].split('?')[0]}?stream={stream}"


@pytest.fixture
def transport_url(redis_server: str) -> Iterator[str]:
    """A stream of this test's own on the shared Redis; its keys are deleted after."""
    import redis

    prefix = f"adaptive_test:{uuid.uuid4().hex[:12]}"
    yield streams_url(redis_server, f"{prefix}:runs")
    client = redis.Redis.from_url(redis_server)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def cluster_transport_url(redis_cluster: ThrowawayRedisCluster, cluster_prefix: str) -> str:
    """A braced stream on the three-node cluster (the cluster fixture deletes its keys)."""
    return f"redis+streams+cluster://{redis_cluster.seeds}/?stream={cluster_prefix}runs"
