"""The analytics queries by the names the command line, the report and the demo use.

``adaptive.analytics.queries`` owns the SQL and the row models. This module maps each
query name to its method and a title, so that every consumer runs and labels
the queries the same way, and a new query is added in one place. Row models
come from the methods' return annotations, so a table has its columns even
when a query returns no rows.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass

from adaptive.analytics.queries import Analytics, AnalyticsRow, Bucket, Window
from adaptive.errors import ConfigError


@dataclass(frozen=True)
class AnalyticsView:
    """One query: its command name, its title, and the ``Analytics`` method behind it."""

    name: str
    title: str
    method: str

    def row_model(self) -> type[AnalyticsRow]:
        """The row model of the query, from ``list[Row]`` in the method's annotation."""
        returned = typing.get_type_hints(getattr(Analytics, self.method))["return"]
        (row,) = typing.get_args(returned)
        if not (isinstance(row, type) and issubclass(row, AnalyticsRow)):
            raise TypeError(f"Analytics.{self.method} does not return a list of analytics rows")
        return row


VIEWS: dict[str, AnalyticsView] = {
    view.name: view
    for view in (
        AnalyticsView("runs", "Runs over time", "runs_over_time"),
        AnalyticsView("tools", "Tool latency", "tools"),
        AnalyticsView("models", "Token usage by model", "models"),
        AnalyticsView("fanout", "Parallel tool fan-outs", "fanout"),
        AnalyticsView("acg", "Prompt-cache stability per profile", "acg"),
        AnalyticsView("slowest", "Slowest runs", "slowest"),
    )
}


async def fetch_rows(
    analytics: Analytics, name: str, window: Window, *, bucket: Bucket = "day", limit: int = 10
) -> Sequence[AnalyticsRow]:
    """Run the named query; ``bucket`` applies to ``runs``, ``limit`` to ``slowest``."""
    match name:
        case "runs":
            return await analytics.runs_over_time(window, bucket)
        case "tools":
            return await analytics.tools(window)
        case "models":
            return await analytics.models(window)
        case "fanout":
            return await analytics.fanout(window)
        case "acg":
            return await analytics.acg(window)
        case "slowest":
            return await analytics.slowest(window, limit)
    raise ConfigError(f"unknown analytics query {name!r}; known: {', '.join(VIEWS)}")


async def fetch_all(analytics: Analytics, window: Window) -> dict[str, Sequence[AnalyticsRow]]:
    """Every query over one window, in ``VIEWS`` order, for the report and the demo."""
    return {name: await fetch_rows(analytics, name, window) for name in VIEWS}
