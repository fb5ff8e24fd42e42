"""A Redis that keeps nothing on disk is named when it is the durable backend, once."""

from __future__ import annotations

import logging

import pytest
import redis

from adaptive.storage.memory import MemoryBackend
from adaptive.storage.redis import RedisBackend
from adaptive.storage.redis.durability import describe
from adaptive.storage.tiered import TieredBackend
from tests.conftest import ThrowawayRedis

LOGGER = "adaptive.storage.redis.durability"


def warnings_on_open(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER]


async def test_a_server_without_persistence_is_warned_about(
    throwaway_redis: ThrowawayRedis, caplog: pytest.LogCaptureFixture
) -> None:
    backend = RedisBackend(f"{throwaway_redis.url}?key_prefix=t:")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await backend.open()
        await backend.close()
    (message,) = warnings_on_open(caplog)
    assert "keeps nothing on disk (appendonly no, save '')" in message
    assert f"127.0.0.1:{throwaway_redis.port}" in message


async def test_a_server_with_aof_is_not(
    throwaway_redis: ThrowawayRedis, caplog: pytest.LogCaptureFixture
) -> None:
    redis.Redis.from_url(throwaway_redis.url).config_set("appendonly", "yes")
    backend = RedisBackend(f"{throwaway_redis.url}?key_prefix=t:")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await backend.open()
        await backend.close()
    assert warnings_on_open(caplog) == []


async def test_the_hot_tier_of_a_tiered_backend_is_not(
    throwaway_redis: ThrowawayRedis, caplog: pytest.LogCaptureFixture
) -> None:
    backend = TieredBackend(MemoryBackend(), RedisBackend(f"{throwaway_redis.url}?key_prefix=t:"))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await backend.open()
        await backend.close()
    assert warnings_on_open(caplog) == []


@pytest.mark.parametrize(
    ("appendonly", "save", "warns"),
    [("no", "", True), ("yes", "", False), ("no", "3600 1", False), (None, None, False)],
)
def test_what_counts_as_keeping_nothing(
    appendonly: str | None, save: str | None, warns: bool
) -> None:
    assert (describe(appendonly, save) is not None) is warns
