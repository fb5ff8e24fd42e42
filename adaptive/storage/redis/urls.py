"""Our options in a Redis URL's query, taken out before redis-py sees the URL.

redis-py hands every query parameter it does not know to the connection
class, which rejects it; ``key_prefix`` and the retention options are ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from adaptive.errors import ConfigError

DEFAULT_KEY_PREFIX = "nemo_relay:"
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""Cluster URL schemes, and the scheme of a single node's URL they stand for."""
SCHEMES = ("redis", "rediss", "unix", *CLUSTER_SCHEMES)
OPTION_ALIASES = {
    "key_prefix": "key_prefix",
    "max_runs_per_agent": "max_runs_per_agent",
    "max_runs": "max_runs_per_agent",
    "run_ttl_s": "run_ttl_s",
}


@dataclass(frozen=True)
class RedisSettings:
    """The backend's own settings, validated."""

    key_prefix: str = DEFAULT_KEY_PREFIX
    max_runs_per_agent: int | None = None
    run_ttl_s: float | None = None

    @property
    def run_ttl_ms(self) -> int | None:
        return None if self.run_ttl_s is None else max(1, round(self.run_ttl_s * 1000))


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL without our options, and our options (by canonical name) as given."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise ConfigError(
            f"not a Redis URL: {display_url(url)!r}; use redis://host:6379/0, "
            "rediss://host:6380/0 (TLS), unix:///path/to/redis.sock or, for a cluster, "
            "redis+cluster://host:7000,host2:7001/?key_prefix={nemo_relay}:"
        )
    ours: dict[str, str] = {}
    theirs: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        canonical = OPTION_ALIASES.get(name)
        if canonical is None:
            theirs.append((name, value))
        elif ours.setdefault(canonical, value) != value:
            raise ConfigError(f"Redis URL sets {canonical} twice, to different values")
    return urlunsplit(parts._replace(query=urlencode(theirs))), ours


def settings_from(
    url_options: dict[str, str],
    key_prefix: str | None,
    max_runs_per_agent: int | str | None,
    run_ttl_s: float | str | None,
) -> RedisSettings:
    """Merge URL options with keyword arguments (which must agree where both are given)."""
    given = {
        "key_prefix": key_prefix,
        "max_runs_per_agent": max_runs_per_agent,
        "run_ttl_s": run_ttl_s,
    }
    merged: dict[str, object] = {}
    for name, value in given.items():
        from_url = url_options.get(name)
        if value is not None and from_url is not None and str(value) != from_url:
            raise ConfigError(
                f"{name} is {value!r} but the Redis URL says {from_url!r}; give it once"
            )
        merged[name] = value if value is not None else from_url
    prefix = merged["key_prefix"]
    return RedisSettings(
        key_prefix=DEFAULT_KEY_PREFIX if prefix is None else str(prefix),
        max_runs_per_agent=_positive_int(merged["max_runs_per_agent"], "max_runs_per_agent"),
        run_ttl_s=_positive(merged["run_ttl_s"], float, "run_ttl_s"),
    )


def _positive(value: object, kind: type[int] | type[float], name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = kind(str(value)) if not isinstance(value, bool) else 0
    except ValueError as error:
        raise ConfigError(f"{name} must be a positive number, got {value!r}") from error
    if not (number > 0 and math.isfinite(number)):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return number


def _positive_int(value: object, name: str) -> int | None:
    number = _positive(value, int, name)
    return None if number is None else int(number)


def display_url(url: str) -> str:
    """The URL with its password (in the authority or the query) masked, for messages."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "password" for name, _ in query):
        masked = [(name, "***" if name == "password" else value) for name, value in query]
        parts = parts._replace(query=urlencode(masked, safe="*"))
    return urlunsplit(parts)
