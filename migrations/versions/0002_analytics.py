"""Analytics: failure status, parallel cohorts per call, ACG block counts, indexes, views.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Adds what ``adaptive.analytics`` groups and filters on:

* ``runs.end_status`` / ``calls.status``: ``error`` when the scope's end
  event reported a failure (``NULL`` for rows stored before, which carry no
  status);
* ``calls.cohort_tools`` / ``cohort_key`` / ``cohort_width`` /
  ``fanout_width``: the parallel cohort each tool call's start formed and the
  widest one it ran in (DESIGN §5.1), filled here for the runs already stored;
* ``*_key``: 64-bit prefixes of the agent, tool, model and cohort digests,
  narrow enough for the covering indexes (see ``adaptive.storage.sql.models``);
* ``acg_stability.*_blocks``: span scores per stability class, filled from
  each stored result; ``acg_observations.observed_at``, from each IR's
  ``created_at``;
* covering indexes for time-window queries (``INCLUDE`` on PostgreSQL, so
  they are answered from the index alone);
* on PostgreSQL, the ``analytics_*`` views documented in docs/analytics.md,
  for BI tools that query the database directly.

The backfill reuses the write path's cohort sweep (``cohort_columns``) so
that old and new rows cannot disagree on what a cohort is. Types are spelled
out, as in 0001.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIGEST = sa.LargeBinary(32)
STAMP = sa.DateTime(timezone=True)
BACKFILL_PAGE: Final = 500
"""Runs (or stability rows, or observations) per backfill round trip."""

COHORT_COLUMNS: Final = {
    "cohort_tools": sa.Text(),
    "cohort_width": sa.Integer(),
    "fanout_width": sa.Integer(),
    "cohort_key": sa.BigInteger(),
}
CALL_COLUMNS: Final = {
    "status": sa.Text(),
    "cohort_tools": sa.Text(),
    "cohort_width": sa.Integer(),
    "fanout_width": sa.Integer(),
    "agent_key": sa.BigInteger(),
    "name_key": sa.BigInteger(),
    "model_key": sa.BigInteger(),
    "cohort_key": sa.BigInteger(),
}
RUN_COLUMNS: Final = {"end_status": sa.Text(), "agent_key": sa.BigInteger()}
KEYED_DIGESTS: Final = (
    ("runs", "agent_digest", "agent_key"),
    ("calls", "agent_digest", "agent_key"),
    ("calls", "name_digest", "name_key"),
    ("calls", "model_digest", "model_key"),
)
"""Where each new key column takes its value from: the first 8 bytes of a stored digest."""
BLOCK_COLUMNS: Final = ("stable_blocks", "semi_stable_blocks", "variable_blocks")
BLOCK_CLASSES: Final = {
    "stable": "stable_blocks",
    "semi_stable": "semi_stable_blocks",
    "variable": "variable_blocks",
}


def dialect_name() -> str:
    return op.get_context().dialect.name


def is_offline() -> bool:
    return op.get_context().as_sql


# -- indexes -------------------------------------------------------------------


def partial(condition: str) -> dict[str, Any]:
    clause = sa.text(condition)
    return {"postgresql_where": clause, "sqlite_where": clause}


def create_indexes() -> None:
    op.create_index(
        "ix_runs_analytics_by_start",
        "runs",
        ["started_at"],
        postgresql_include=[
            "agent_key",
            "started_at_ns",
            "duration_ms",
            "call_count",
            "end_status",
        ],
    )
    op.create_index(
        "ix_runs_analytics_by_duration",
        "runs",
        ["duration_ms"],
        postgresql_include=["started_at", "agent_key"],
        **partial("duration_ms IS NOT NULL"),
    )
    op.create_index(
        "ix_calls_analytics_tools",
        "calls",
        ["name_key", "started_at"],
        postgresql_include=["agent_key", "duration_ms", "fanout_width", "status"],
        **partial("kind = 'tool'"),
    )
    op.create_index(
        "ix_calls_analytics_llm",
        "calls",
        ["model_key", "started_at"],
        postgresql_include=[
            "agent_key",
            "duration_ms",
            "status",
            "prompt_tokens",
            "output_tokens",
            "total_tokens",
        ],
        **partial("kind = 'llm'"),
    )
    op.create_index(
        "ix_calls_analytics_cohorts",
        "calls",
        ["cohort_key", "started_at"],
        postgresql_include=["agent_key", "cohort_width", "run_id"],
        **partial("cohort_key IS NOT NULL"),
    )


SUPERSEDED_INDEXES: Final = {
    "ix_calls_name_digest_kind": ["name_digest", "kind"],
    "ix_calls_model_digest": ["model_digest"],
    "ix_calls_agent_digest_started_at": ["agent_digest", "started_at"],
}
"""0001's call indexes for analytics, replaced by the narrower ones above.

Every index on ``calls`` costs each stored call an index insert; no query
reads these any more, so they go.
"""


def drop_superseded_indexes() -> None:
    for name in SUPERSEDED_INDEXES:
        op.drop_index(name, table_name="calls")


def restore_superseded_indexes() -> None:
    for name, columns in SUPERSEDED_INDEXES.items():
        op.create_index(name, "calls", columns)


INDEXES: Final = (
    ("calls", "ix_calls_analytics_cohorts"),
    ("calls", "ix_calls_analytics_llm"),
    ("calls", "ix_calls_analytics_tools"),
    ("runs", "ix_runs_analytics_by_duration"),
    ("runs", "ix_runs_analytics_by_start"),
)


# -- views (PostgreSQL) ------------------------------------------------------------

UTC_DAY: Final = "(started_at AT TIME ZONE 'UTC')::date"

VIEWS: Final = {
    "analytics_runs_daily": f"""
        SELECT {UTC_DAY} AS day,
               agent_id,
               count(*) AS runs,
               count(ended_at) AS completed_runs,
               count(*) FILTER (WHERE end_status = 'error') AS failed_runs,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_duration_ms,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_duration_ms,
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
               percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_duration_ms,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_duration_ms,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_duration_ms,
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
               percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_latency_ms,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_latency_ms,
               count(*) FILTER (WHERE status = 'error') AS failed_calls
        FROM calls
        WHERE kind = 'llm'
        GROUP BY 1, 2, 3""",
    "analytics_fanout": f"""
        SELECT {UTC_DAY} AS day,
               agent_id,
               cohort_tools AS tool_names,
               'fanout:' || left('sha256:' || encode(sha256(convert_to(cohort_tools, 'UTF8')),
                                                     'hex'), 12) AS group_id,
               max(cohort_width) AS width,
               count(*) AS occurrences,
               count(DISTINCT run_id) AS runs
        FROM calls
        WHERE cohort_tools IS NOT NULL
        GROUP BY 1, 2, 3""",
    "analytics_acg": """
        SELECT s.acg_key,
               s.agent_id,
               s.acg_key = s.agent_id AS is_agent_aggregate,
               coalesce(w.next_seq - w.first_seq, 0) AS window_observations,
               s.total_observations,
               s.stable_prefix_length,
               s.stable_blocks,
               s.semi_stable_blocks,
               s.variable_blocks,
               s.updated_at
        FROM acg_stability AS s
        LEFT JOIN acg_windows AS w ON w.key_digest = s.key_digest""",
}


def create_views() -> None:
    if dialect_name() != "postgresql":
        return
    for name, query in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {query}")


def drop_views() -> None:
    if dialect_name() != "postgresql":
        return
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")


# -- backfill --------------------------------------------------------------------

runs_table = sa.table(
    "runs", sa.column("id", sa.Uuid()), sa.column("tool_call_count", sa.Integer())
)
calls_table = sa.table(
    "calls",
    sa.column("run_id", sa.Uuid()),
    sa.column("position", sa.Integer()),
    sa.column("kind", sa.Text()),
    sa.column("name", sa.Text()),
    sa.column("started_at_ns", sa.BigInteger()),
    sa.column("ended_at_ns", sa.BigInteger()),
    *(sa.column(name, type_) for name, type_ in COHORT_COLUMNS.items()),
)
stability_table = sa.table(
    "acg_stability",
    sa.column("key_digest", DIGEST),
    sa.column("payload", sa.JSON()),
    *(sa.column(name, sa.Integer()) for name in BLOCK_COLUMNS),
)
observations_table = sa.table(
    "acg_observations",
    sa.column("key_digest", DIGEST),
    sa.column("seq", sa.BigInteger()),
    sa.column("payload", sa.JSON()),
    sa.column("observed_at", STAMP),
)


def backfill() -> None:
    if is_offline():
        return  # no rows to read when only printing SQL
    backfill_keys()
    backfill_cohorts()
    backfill_block_counts()
    backfill_observed_at()


def backfill_keys() -> None:
    """Each key column from its digest column, one ``UPDATE`` per distinct digest.

    Agents, tools and models are few, and each ``UPDATE`` finds its rows
    through the digest's index, on both databases.
    """
    bind = op.get_bind()
    for table_name, digest_name, key_name in KEYED_DIGESTS:
        table = sa.table(table_name, sa.column(digest_name, DIGEST), sa.column(key_name))
        digests = bind.execute(
            sa.select(table.c[digest_name]).where(table.c[digest_name].is_not(None)).distinct()
        ).scalars()
        update = (
            sa.update(table)
            .where(table.c[digest_name] == sa.bindparam("b_digest"))
            .values({key_name: sa.bindparam("b_key")})
        )
        changes = [
            {"b_digest": digest, "b_key": int.from_bytes(digest[:8], "big", signed=True)}
            for digest in digests
        ]
        for start in range(0, len(changes), BACKFILL_PAGE):
            bind.execute(update, changes[start : start + BACKFILL_PAGE])


def pages_of_runs_with_parallel_candidates() -> Iterator[list[Any]]:
    """Ids of runs with at least two tool calls (the only ones with cohorts), in pages."""
    bind = op.get_bind()
    after: Any = None
    while True:
        query = (
            sa.select(runs_table.c.id)
            .where(runs_table.c.tool_call_count >= 2)
            .order_by(runs_table.c.id)
            .limit(BACKFILL_PAGE)
        )
        if after is not None:
            query = query.where(runs_table.c.id > after)
        ids = list(bind.execute(query).scalars())
        if not ids:
            return
        yield ids
        after = ids[-1]


def backfill_cohorts() -> None:
    from adaptive.records import CallKind, CallRecord
    from adaptive.storage.sql.rows import cohort_columns

    bind = op.get_bind()
    table = calls_table.c
    update = (
        sa.update(calls_table)
        .where(table.run_id == sa.bindparam("b_run"), table.position == sa.bindparam("b_pos"))
        .values({name: sa.bindparam(name) for name in COHORT_COLUMNS})
    )
    for ids in pages_of_runs_with_parallel_candidates():
        query = (
            sa.select(
                table.run_id, table.position, table.name, table.started_at_ns, table.ended_at_ns
            )
            .where(table.run_id.in_(ids), table.kind == CallKind.TOOL.value)
            .order_by(table.run_id, table.position)
        )
        by_run: dict[Any, list[Any]] = {}
        for row in bind.execute(query):
            by_run.setdefault(row.run_id, []).append(row)
        changes: list[dict[str, Any]] = []
        for run_id, rows in by_run.items():
            records = [
                CallRecord(
                    kind=CallKind.TOOL,
                    name=row.name,
                    started_at=row.started_at_ns,
                    ended_at=row.ended_at_ns,
                )
                for row in rows
            ]
            for index, columns in cohort_columns(records).items():
                changes.append({"b_run": run_id, "b_pos": rows[index].position, **columns})
        if changes:
            bind.execute(update, changes)


def backfill_block_counts() -> None:
    bind = op.get_bind()
    table = stability_table.c
    update = (
        sa.update(stability_table)
        .where(table.key_digest == sa.bindparam("b_key"))
        .values({name: sa.bindparam(name) for name in BLOCK_COLUMNS})
    )
    after = b""
    while True:
        page = bind.execute(
            sa.select(table.key_digest, table.payload)
            .where(table.key_digest > after)
            .order_by(table.key_digest)
            .limit(BACKFILL_PAGE)
        ).all()
        if not page:
            return
        bind.execute(
            update, [{"b_key": row.key_digest, **block_counts(row.payload)} for row in page]
        )
        after = page[-1].key_digest


def block_counts(payload: Any) -> dict[str, int]:
    counts = dict.fromkeys(BLOCK_COLUMNS, 0)
    scores = payload.get("scores") if isinstance(payload, dict) else None
    for score in scores if isinstance(scores, list) else []:
        column = BLOCK_CLASSES.get(score.get("classification")) if isinstance(score, dict) else None
        if column is not None:
            counts[column] += 1
    return counts


def backfill_observed_at() -> None:
    """Each observation's ``observed_at`` from its ``created_at``, one ACG key at a time.

    Only the timestamp leaves the database, not the IR documents.
    """
    bind = op.get_bind()
    table = observations_table.c
    update = (
        sa.update(observations_table)
        .where(table.key_digest == sa.bindparam("b_key"), table.seq == sa.bindparam("b_seq"))
        .values(observed_at=sa.bindparam("observed_at"))
    )
    created_at = table.payload["created_at"].as_string()
    keys = bind.execute(sa.select(table.key_digest).distinct()).scalars().all()
    for key in keys:
        rows = bind.execute(
            sa.select(table.seq, created_at.label("created_at")).where(table.key_digest == key)
        ).all()
        changes = [
            {"b_key": key, "b_seq": row.seq, "observed_at": parse_created_at(row.created_at)}
            for row in rows
        ]
        if changes:
            bind.execute(update, changes)


def parse_created_at(text: str | None) -> datetime | None:
    """An IR's ``created_at`` (RFC 3339, up to nanoseconds) as a UTC datetime, if readable."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


# -- revision ------------------------------------------------------------------------


def upgrade() -> None:
    for name, type_ in CALL_COLUMNS.items():
        op.add_column("calls", sa.Column(name, type_, nullable=True))
    for name, type_ in RUN_COLUMNS.items():
        op.add_column("runs", sa.Column(name, type_, nullable=True))
    op.add_column("acg_observations", sa.Column("observed_at", STAMP, nullable=True))
    for name in BLOCK_COLUMNS:
        op.add_column(
            "acg_stability", sa.Column(name, sa.Integer(), server_default="0", nullable=False)
        )
    backfill()
    create_indexes()
    drop_superseded_indexes()
    create_views()


def downgrade() -> None:
    drop_views()
    restore_superseded_indexes()
    for table, name in INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("acg_stability") as batch:
        for name in reversed(BLOCK_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("acg_observations") as batch:
        batch.drop_column("observed_at")
    with op.batch_alter_table("runs") as batch:
        for name in reversed(RUN_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("calls") as batch:
        for name in reversed(CALL_COLUMNS):
            batch.drop_column(name)
