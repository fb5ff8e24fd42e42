"""Initial schema: agents, runs, calls, learner state, ACG windows, observations, stability.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Types are spelled out here rather than imported from the models: a revision
must keep creating the schema it was written for after the models move on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIGEST = sa.LargeBinary(32)
STAMP = sa.DateTime(timezone=True)


def payload() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


PAYLOAD_COLUMNS = (
    ("calls", "annotated_request"),
    ("calls", "annotated_response"),
    ("learner_state", "payload"),
    ("acg_observations", "payload"),
    ("acg_stability", "payload"),
)
"""The JSON columns whose documents are big enough for PostgreSQL to compress."""


def compress_payloads_with_lz4() -> None:
    """PostgreSQL 14+: compress payloads with lz4 rather than pglz.

    Observations (about 2 kB each) sit just above the size PostgreSQL
    compresses at, and pglz costs about a third of their insert time; lz4
    is several times faster. Skipped where the server lacks lz4 (or in
    ``--sql`` mode, which cannot ask the server).
    """
    if context.is_offline_mode() or op.get_bind().dialect.name != "postgresql":
        return
    has_lz4 = op.get_bind().scalar(
        sa.text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
    )
    if has_lz4:
        for table, column in PAYLOAD_COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("agent_digest", DIGEST, nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("agent_digest", name=op.f("pk_agents")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("agent_digest", DIGEST, nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("started_at", STAMP, nullable=False),
        sa.Column("started_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", STAMP, nullable=True),
        sa.Column("ended_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("call_count", sa.Integer(), nullable=False),
        sa.Column("llm_call_count", sa.Integer(), nullable=False),
        sa.Column("tool_call_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("extra", payload(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("seq", name=op.f("uq_runs_seq")),
        sa.CheckConstraint("status IN ('open', 'completed')", name=op.f("ck_runs_status")),
    )
    op.create_index(op.f("ix_runs_agent_digest_started_at"), "runs", ["agent_digest", "started_at"])
    op.create_index(op.f("ix_runs_agent_digest_seq"), "runs", ["agent_digest", "seq"])
    op.create_table(
        "calls",
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
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("model_name", sa.Text(), nullable=True),
        sa.Column("model_digest", DIGEST, nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("tool_call_count", sa.BigInteger(), nullable=True),
        sa.Column("metadata_snapshot", payload(), nullable=True),
        sa.Column("annotated_request", payload(), nullable=True),
        sa.Column("annotated_response", payload(), nullable=True),
        sa.Column("extra", payload(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "position", name=op.f("pk_calls")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_calls_run_id_runs"), ondelete="CASCADE"
        ),
    )
    op.create_index(op.f("ix_calls_name_digest_kind"), "calls", ["name_digest", "kind"])
    op.create_index(op.f("ix_calls_model_digest"), "calls", ["model_digest"])
    op.create_index(
        op.f("ix_calls_agent_digest_started_at"), "calls", ["agent_digest", "started_at"]
    )
    op.create_table(
        "learner_state",
        sa.Column("agent_digest", DIGEST, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("payload", payload(), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("agent_digest", "kind", name=op.f("pk_learner_state")),
        sa.CheckConstraint(
            "kind IN ('plan', 'trie', 'accumulators')", name=op.f("ck_learner_state_kind")
        ),
    )
    op.create_table(
        "acg_windows",
        sa.Column("key_digest", DIGEST, nullable=False),
        sa.Column("acg_key", sa.Text(), nullable=False),
        sa.Column("agent_digest", DIGEST, nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("key_digest", name=op.f("pk_acg_windows")),
    )
    op.create_index(op.f("ix_acg_windows_agent_digest"), "acg_windows", ["agent_digest"])
    op.create_table(
        "acg_observations",
        sa.Column("key_digest", DIGEST, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("acg_key", sa.Text(), nullable=False),
        sa.Column("agent_digest", DIGEST, nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("ir_id", sa.Uuid(), nullable=False),
        sa.Column("payload", payload(), nullable=False),
        sa.PrimaryKeyConstraint("key_digest", "seq", name=op.f("pk_acg_observations")),
    )
    op.create_table(
        "acg_stability",
        sa.Column("key_digest", DIGEST, nullable=False),
        sa.Column("acg_key", sa.Text(), nullable=False),
        sa.Column("agent_digest", DIGEST, nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stable_prefix_length", sa.Integer(), nullable=False),
        sa.Column("total_observations", sa.Integer(), nullable=False),
        sa.Column("payload", payload(), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("key_digest", name=op.f("pk_acg_stability")),
    )
    op.create_index(op.f("ix_acg_stability_agent_digest"), "acg_stability", ["agent_digest"])
    compress_payloads_with_lz4()


def downgrade() -> None:
    op.drop_table("acg_stability")
    op.drop_table("acg_observations")
    op.drop_table("acg_windows")
    op.drop_table("learner_state")
    op.drop_table("calls")
    op.drop_table("runs")
    op.drop_table("agents")
