"""A run is identified by (agent, run id), as in NeMo Relay's ``runs:{agent}:{id}`` keys.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Until 0003 ``runs.id`` alone was the primary key, so re-ingesting a trace
under another ``--agent-id`` stored and learned nothing for that agent,
while Redis (whose keys carry the agent) stored it again: the backends
disagreed about the same input. ``runs`` now has the primary key
``(agent_digest, id)``, and ``calls`` the key ``(agent_digest, run_id,
position)`` with its foreign key on the pair.

PostgreSQL alters the constraints in place (the new primary keys build their
indexes once); SQLite rebuilds both tables (Alembic's batch mode, from the
tables as 0003 left them, spelled out below so that ``--sql`` works too). The
downgrade restores the single-column keys, and refuses, naming the count,
when a run id is stored for more than one agent: the old schema cannot hold
both, and dropping one is a choice for the operator, not the migration.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_FOREIGN_KEY = "fk_calls_run_id_runs"
NEW_FOREIGN_KEY = "fk_calls_agent_digest_runs"
DIGEST = sa.LargeBinary(32)
STAMP = sa.DateTime(timezone=True)


def partial(condition: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(condition)}


def runs_table(run_key: list[str]) -> sa.Table:
    """``runs`` on SQLite as 0003 left it, with ``run_key`` as its primary key."""
    return sa.Table(
        "runs",
        sa.MetaData(),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("agent_digest", DIGEST, nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("started_at", STAMP, nullable=False),
        sa.Column("started_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", STAMP, nullable=True),
        sa.Column("ended_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("duration_us", sa.BigInteger(), nullable=True),
        sa.Column("call_count", sa.Integer(), nullable=False),
        sa.Column("llm_call_count", sa.Integer(), nullable=False),
        sa.Column("tool_call_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("extra", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("end_status", sa.Text(), nullable=True),
        sa.Column("agent_key", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint(*run_key, name="pk_runs"),
        sa.UniqueConstraint("seq", name="uq_runs_seq"),
        sa.CheckConstraint("status IN ('open', 'completed')", name="ck_runs_status"),
        sa.Index("ix_runs_agent_digest_seq", "agent_digest", "seq"),
        sa.Index("ix_runs_agent_digest_started_at", "agent_digest", "started_at"),
        sa.Index("ix_runs_analytics_by_start", "started_at"),
        sa.Index(
            "ix_runs_analytics_by_duration", "duration_us", **partial("duration_us IS NOT NULL")
        ),
    )


def calls_table(call_key: list[str], foreign_key: str) -> sa.Table:
    """``calls`` on SQLite as 0003 left it, with ``call_key`` and ``foreign_key``."""
    referring = [column for column in call_key if column != "position"]
    metadata = sa.MetaData()
    runs_table(["agent_digest", "id"] if "agent_digest" in call_key else ["id"]).to_metadata(
        metadata
    )
    return sa.Table(
        "calls",
        metadata,
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("agent_digest", DIGEST, nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_digest", DIGEST, nullable=False),
        sa.Column("started_at", STAMP, nullable=False),
        sa.Column("started_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", STAMP, nullable=True),
        sa.Column("ended_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("duration_us", sa.BigInteger(), nullable=True),
        sa.Column("model_name", sa.Text(), nullable=True),
        sa.Column("model_digest", DIGEST, nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("tool_call_count", sa.BigInteger(), nullable=True),
        sa.Column("metadata_snapshot", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("annotated_request", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("annotated_response", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("extra", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("cohort_tools", sa.Text(), nullable=True),
        sa.Column("cohort_width", sa.Integer(), nullable=True),
        sa.Column("fanout_width", sa.Integer(), nullable=True),
        sa.Column("agent_key", sa.BigInteger(), nullable=True),
        sa.Column("name_key", sa.BigInteger(), nullable=True),
        sa.Column("model_key", sa.BigInteger(), nullable=True),
        sa.Column("cohort_key", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint(*call_key, name="pk_calls"),
        sa.ForeignKeyConstraint(
            referring,
            [f"runs.{'id' if column == 'run_id' else column}" for column in referring],
            name=foreign_key,
            ondelete="CASCADE",
        ),
        sa.Index(
            "ix_calls_analytics_cohorts",
            "cohort_key",
            "started_at",
            **partial("cohort_key IS NOT NULL"),
        ),
        sa.Index("ix_calls_analytics_llm", "model_key", "started_at", **partial("kind = 'llm'")),
        sa.Index("ix_calls_analytics_tools", "name_key", "started_at", **partial("kind = 'tool'")),
    )


def set_keys(old: tuple[list[str], list[str], str], new: tuple[list[str], list[str], str]) -> None:
    """Replace the primary keys of ``runs`` and ``calls`` and the foreign key between them.

    ``old`` and ``new`` are (run key, call key, foreign key name).
    """
    run_key, call_key, foreign_key = new
    if op.get_context().dialect.name == "postgresql":
        referring = [column for column in call_key if column != "position"]
        referred = ["id" if column == "run_id" else column for column in referring]
        op.drop_constraint(old[2], "calls", type_="foreignkey")
        op.drop_constraint("pk_calls", "calls", type_="primary")
        op.drop_constraint("pk_runs", "runs", type_="primary")
        op.create_primary_key("pk_runs", "runs", run_key)
        op.create_primary_key("pk_calls", "calls", call_key)
        op.create_foreign_key(foreign_key, "calls", "runs", referring, referred, ondelete="CASCADE")
        return
    rebuild("runs", runs_table(run_key))
    rebuild("calls", calls_table(call_key, foreign_key))


def rebuild(name: str, shape: sa.Table) -> None:
    """SQLite: copy every row of ``name`` into a new table of ``shape`` and swap them.

    Only the keys differ between the two shapes, never the columns, so giving
    batch mode the target shape as the structure to copy builds exactly that
    table (indexes included) without reflecting the old one.
    """
    with op.batch_alter_table(name, copy_from=shape, recreate="always"):
        pass


BEFORE = (["id"], ["run_id", "position"], OLD_FOREIGN_KEY)
AFTER = (["agent_digest", "id"], ["agent_digest", "run_id", "position"], NEW_FOREIGN_KEY)


def upgrade() -> None:
    set_keys(BEFORE, AFTER)


def downgrade() -> None:
    if not context.is_offline_mode():
        refuse_shared_run_ids()
    set_keys(AFTER, BEFORE)


def refuse_shared_run_ids() -> None:
    """The single-column keys cannot hold a run id stored for two agents: say so, keep both."""
    query = "SELECT count(*) FROM (SELECT id FROM runs GROUP BY id HAVING count(*) > 1) AS s"
    shared = op.get_bind().execute(sa.text(query)).scalar_one()
    if shared:
        raise RuntimeError(
            f"cannot downgrade below revision 0004: {shared} run id(s) are stored for more than "
            "one agent, which the older schema cannot hold; delete the copies you do not need "
            "(DELETE FROM runs WHERE agent_id = '…' AND id IN (…)) and downgrade again"
        )
