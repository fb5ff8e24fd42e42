"""Backend URLs as users write them → the async driver URLs SQLAlchemy needs.

Users name a database the way every other tool does (``postgresql://…``,
``postgres://…``, ``sqlite:///path.db``); the SQL backend only runs on async
drivers, so the scheme is rewritten here and nowhere else.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from adaptive.errors import ConfigError

POSTGRES_DRIVER = "postgresql+asyncpg"
SQLITE_DRIVER = "sqlite+aiosqlite"

_ASYNC_DRIVERS = {
    "postgres": POSTGRES_DRIVER,
    "postgresql": POSTGRES_DRIVER,
    POSTGRES_DRIVER: POSTGRES_DRIVER,
    "sqlite": SQLITE_DRIVER,
    SQLITE_DRIVER: SQLITE_DRIVER,
}


ADAPTIVE_OPTIONS = ("auto_upgrade",)
"""Query parameters that configure the backend, not the driver (``?auto_upgrade=true``)."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def async_url(url: str | URL) -> URL:
    """The SQLAlchemy URL of the async driver for a ``postgresql://``/``sqlite://`` URL."""
    parsed = _parse(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername.lower())
    if driver is None:
        raise ConfigError(
            f"unsupported SQL backend URL scheme {parsed.drivername!r}; use "
            "postgresql://user@host/db (asyncpg) or sqlite:///path.db (aiosqlite)"
        )
    return parsed.set(drivername=driver).difference_update_query(ADAPTIVE_OPTIONS)


def flag_option(url: str | URL, name: str) -> bool | None:
    """A boolean backend option given in the URL's query (``None`` when absent)."""
    value = _parse(url).query.get(name)
    if value is None:
        return None
    text = (value[-1] if isinstance(value, tuple) else value).lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ConfigError(f"URL option {name}={text!r} is not a boolean (use true or false)")


def display_url(url: str | URL) -> str:
    """The URL as the user wrote it, password masked: safe for messages and logs."""
    try:
        return _parse(url).render_as_string(hide_password=True)
    except ConfigError:
        return "<unparseable URL>"


def _parse(url: str | URL) -> URL:
    if isinstance(url, URL):
        return url
    try:
        return make_url(url)
    except ArgumentError as error:
        raise ConfigError(f"not a database URL: {display_text(url)!r}: {error}") from error


def display_text(url: str) -> str:
    """A URL that failed to parse, cut after the scheme so no credentials leak."""
    scheme, separator, _ = url.partition("://")
    return f"{scheme}{separator}…" if separator else url[:40]
