"""Values of analytics rows as short text, the same in a terminal table and the HTML report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel


def field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def heading(name: str) -> str:
    """A column heading for a field name (``p90_ms`` → ``p90 ms``)."""
    return name.replace("_", " ")


def cell(value: Any) -> str:
    """A value as a table cell: short, aligned, and ``-`` for missing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _float_cell(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def _float_cell(value: float) -> str:
    """Three to four significant digits, and never fewer decimals than a short duration needs.

    Durations are milliseconds to the microsecond: below 10 ms (where tool
    calls are) three decimals show every microsecond, so 6.742 ms is not read
    as 7; above, the leading digits carry the meaning (``12.3``, ``1,840``).
    JSON and CSV print the full value.
    """
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
