"""SQL analytics over the stored run history (SQLite or PostgreSQL): the queries,
their views for the command line, and the self-contained HTML report.

``Analytics`` and ``Window`` are importable from here; SQLAlchemy is loaded
only when they are first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adaptive.analytics.queries import Analytics, Window

__all__ = ["Analytics", "Window"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from adaptive.analytics import queries

        return getattr(queries, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
