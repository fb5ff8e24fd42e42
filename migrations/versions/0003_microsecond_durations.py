"""Durations in microseconds: ``duration_us`` replaces ``duration_ms`` in runs and calls.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Tool calls take single-digit milliseconds, so whole milliseconds put a tool
whose median is 6.742 ms at 6 ms. ``runs.duration_us`` and
``calls.duration_us`` hold ``ended_at_ns - started_at_ns`` in whole
microseconds, truncated toward zero (``adaptive.timestamps.whole_micros_between``,
which the write path uses; SQL integer division truncates toward zero on
PostgreSQL and SQLite alike, so converted and newly written rows agree, a
negative difference included). Open runs and unfinished calls stay ``NULL``.

Every stored duration is recomputed from the exact ``*_ns`` columns, not
scaled from the old one, whose sub-millisecond part is gone. The downgrade
recomputes ``duration_ms`` the same way, truncated to whole milliseconds as
0001 and 0002 stored it, so up then down gives back the very same values.

The column keeps its place in each table (renamed, then refilled), and the
0002 indexes that read it, including PostgreSQL's covering ones, are dropped
first and built again on the new column once it is filled. On PostgreSQL the
refill is an ``ALTER COLUMN … TYPE … USING``: one rewrite of the table, with
no dead row versions left behind as an ``UPDATE`` of every row would leave;
the three ``analytics_*`` views that read durations are dropped and created
again, their columns unchanged (``p50_duration_ms`` and the others, in
milliseconds with decimals: the percentile of the microseconds over 1000).
Both take an exclusive lock on ``runs`` and ``calls`` for the length of the
rewrite. Everything is SQL, so ``alembic upgrade --sql`` prints it.

A rewritten PostgreSQL table has no visibility map until it is vacuumed, and
the analytics' index-only scans then read the table for every index entry;
``adaptive db upgrade`` runs ``VACUUM (ANALYZE) runs, calls`` after the commit
(``REWRITES``). After a plain ``alembic upgrade``, run it by hand.

Types, indexes and views are spelled out here, as in 0001 and 0002.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES: Final = ("runs", "calls")
REWRITES: Final = TABLES
"""What this revision rewrites, up or down: ``adaptive db`` (and an upgrade on open)
vacuums them once it has committed (see ``adaptive.storage.sql.migrate``)."""


class Durations(NamedTuple):
    """How one revision stores durations: the column and nanoseconds per unit.

    (A named tuple: Alembic loads revisions outside ``sys.modules``, where a
    dataclass cannot resolve its annotations.)
    """

    column: str
    nanos_per_unit: int
    to_millis: str
    """What turns an expression in the column's unit into milliseconds, in SQL."""


MILLIS: Final = Durations("duration_ms", 1_000_000, "")
"""0001 and 0002: whole milliseconds."""
MICROS: Final = Durations("duration_us", 1_000, " / 1000.0")
"""0003: whole microseconds; views report milliseconds with decimals."""


def dialect_name() -> str:
    return op.get_context().dialect.name


# -- the column ------------------------------------------------------------------


def convert(table: str, old: Durations, new: Durations) -> None:
    """Rename ``old``'s column to ``new``'s and fill it from the nanosecond timestamps.

    ``NULL`` where the row has no end. Integer division truncates toward zero
    on both databases, as ``whole_micros_between`` and ``whole_millis_between`` do.
    """
    recomputed = f"(ended_at_ns - started_at_ns) / {new.nanos_per_unit}"
    op.execute(f"ALTER TABLE {table} RENAME COLUMN {old.column} TO {new.column}")
    if dialect_name() == "postgresql":
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {new.column} TYPE bigint USING {recomputed}")
    else:
        op.execute(f"UPDATE {table} SET {new.column} = {recomputed}")


# -- indexes ---------------------------------------------------------------------


def partial(condition: str) -> dict[str, sa.TextClause]:
    clause = sa.text(condition)
    return {"postgresql_where": clause, "sqlite_where": clause}


def create_indexes(durations: Durations) -> None:
    """0002's indexes that carry a duration, on ``durations``' column."""
    column = durations.column
    op.create_index(
        "ix_runs_analytics_by_start",
        "runs",
        ["started_at"],
        postgresql_include=["agent_key", "started_at_ns", column, "call_count", "end_status"],
    )
    op.create_index(
        "ix_runs_analytics_by_duration",
        "runs",
        [column],
        postgresql_include=["started_at", "agent_key"],
        **partial(f"{column} IS NOT NULL"),
    )
    op.create_index(
        "ix_calls_analytics_tools",
        "calls",
        ["name_key", "started_at"],
        postgresql_include=["agent_key", column, "fanout_width", "status"],
        **partial("kind = 'tool'"),
    )
    op.create_index(
        "ix_calls_analytics_llm",
        "calls",
        ["model_key", "started_at"],
        postgresql_include=[
            "agent_key",
            column,
            "status",
            "prompt_tokens",
            "output_tokens",
            "total_tokens",
        ],
        **partial("kind = 'llm'"),
    )


INDEXES: Final = (
    ("calls", "ix_calls_analytics_llm"),
    ("calls", "ix_calls_analytics_tools"),
    ("runs", "ix_runs_analytics_by_duration"),
    ("runs", "ix_runs_analytics_by_start"),
)


def drop_indexes() -> None:
    for table, name in INDEXES:
        op.drop_index(name, table_name=table)


# -- views (PostgreSQL) ------------------------------------------------------------

UTC_DAY: Final = "(started_at AT TIME ZONE 'UTC')::date"


def percentile(fraction: str, durations: Durations, name: str) -> str:
    ordered = f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY {durations.column})"
    return f"{ordered}{durations.to_millis} AS {name}"


def views(d: Durations) -> dict[str, str]:
    """0002's views that read durations, over ``d``'s column; the same columns either way."""
    return {
        "analytics_runs_daily": f"""
        SELECT {UTC_DAY} AS day,
               agent_id,
               count(*) AS runs,
               count(ended_at) AS completed_runs,
               count(*) FILTER (WHERE end_status = 'error') AS failed_runs,
               {percentile("0.5", d, "p50_duration_ms")},
               {percentile("0.95", d, "p95_duration_ms")},
               avg(call_count)::float8 AS calls_per_run,
               sum(llm_call_count) AS llm_calls,
               sum(tool_call_count) AS tool_calls
        FROM runs
        GROUP BY 1, 2""",
        "analytics_tools": f"""
        SELECT {UTC_DAY} AS day,
               agent_id,
               name AS tool,
               count(*) AS calls,
               {percentile("0.5", d, "p50_duration_ms")},
               {percentile("0.95", d, "p95_duration_ms")},
               {percentile("0.99", d, "p99_duration_ms")},
               count(fanout_width) AS parallel_calls,
               count(fanout_width)::float8 / count(*) AS parallel_share,
               count(*) FILTER (WHERE status = 'error') AS failed_calls
        FROM calls
        WHERE kind = 'tool'
        GROUP BY 1, 2, 3""",
        "analytics_models": f"""
        SELECT {UTC_DAY} AS day,
               agent_id,
               model_name AS model,
               count(*) AS llm_calls,
               coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
               coalesce(sum(output_tokens), 0) AS completion_tokens,
               coalesce(sum(total_tokens), 0) AS total_tokens,
               avg(prompt_tokens)::float8 AS mean_prompt_tokens,
               avg(output_tokens)::float8 AS mean_completion_tokens,
               avg(total_tokens)::float8 AS mean_total_tokens,
               {percentile("0.5", d, "p50_latency_ms")},
               {percentile("0.95", d, "p95_latency_ms")},
               count(*) FILTER (WHERE status = 'error') AS failed_calls
        FROM calls
        WHERE kind = 'llm'
        GROUP BY 1, 2, 3""",
    }


def create_views(durations: Durations) -> None:
    if dialect_name() != "postgresql":
        return
    for name, query in views(durations).items():
        op.execute(f"CREATE VIEW {name} AS {query}")


def drop_views() -> None:
    if dialect_name() != "postgresql":
        return
    for name in reversed(views(MICROS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")


# -- revision ------------------------------------------------------------------------


def change_durations(old: Durations, new: Durations) -> None:
    drop_views()
    drop_indexes()
    for table in TABLES:
        convert(table, old, new)
    create_indexes(new)
    create_views(new)


def upgrade() -> None:
    change_durations(MILLIS, MICROS)


def downgrade() -> None:
    change_durations(MICROS, MILLIS)
