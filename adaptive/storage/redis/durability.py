"""Whether a Redis server keeps what it is given across a restart.

Redis is often run as a cache, with neither AOF nor RDB snapshots: a restart
then loses every run and all learned state while ``adaptive ingest`` has
already reported them stored. When Redis is the durable backend (not the hot
tier in front of PostgreSQL), opening it checks the server's persistence
settings and warns once if it keeps nothing. Servers that refuse ``CONFIG``
(managed services, ACLs) are not second-guessed.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def _setting(reply: Any, name: str) -> str | None:
    if not isinstance(reply, dict):
        return None
    value = reply[name] if name in reply else reply.get(name.encode())
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else None


async def persistence(client: Any) -> tuple[str | None, str | None]:
    """The server's ``appendonly`` and ``save`` settings, or ``None`` where CONFIG is refused."""
    try:
        appendonly = _setting(await client.config_get("appendonly"), "appendonly")
        save = _setting(await client.config_get("save"), "save")
    except RedisError as error:
        logger.debug("cannot read Redis persistence settings (CONFIG refused): %s", error)
        return None, None
    return appendonly, save


def describe(appendonly: str | None, save: str | None) -> str | None:
    """A warning when the server keeps nothing on disk; ``None`` otherwise or when unknown."""
    if appendonly is None or save is None:
        return None
    if appendonly.lower() == "yes" or save.strip():
        return None
    return (
        "keeps nothing on disk (appendonly no, save ''): a restart loses every stored run "
        "and all learned state; enable appendonly yes (or RDB snapshots), or use a tiered "
        "backend with PostgreSQL as the durable tier"
    )


async def warn_if_volatile(client: Any, server: str) -> None:
    appendonly, save = await persistence(client)
    warning = describe(appendonly, save)
    if warning is not None:
        logger.warning("Redis at %s %s", server, warning)
