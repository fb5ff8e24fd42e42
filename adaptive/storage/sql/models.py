"""The SQL schema: run history as rows, learner state as versioned JSON documents.

Columns exist for what analytics filter and group on; everything else a
record carries is kept as JSON (JSONB on PostgreSQL), so every record reads
back exactly as it was written.

Agent ids, tool names, model names and ACG keys are unbounded user text. A
B-tree index entry in PostgreSQL must fit in about 2.7 kB, so no index or
key is built on such text directly: each gets a ``*_digest`` column (SHA-256
of its UTF-8 bytes, see ``text_digest``) that is indexed instead. Look rows up
by digest and text together: ``runs.c.agent_digest == text_digest(agent)``
finds the rows through the index, ``runs.c.agent_id == agent`` keeps the
query exact.

Analytics (``adaptive.analytics``) read ``runs`` and ``calls`` through
covering indexes (``INCLUDE`` on PostgreSQL) restricted to the rows each
query reads, so a time-window query walks narrow index ranges and never
touches the wide rows with their JSON documents. Those indexes carry
``*_key`` columns instead of digests: the first 8 bytes of the digest as a
signed 64-bit integer (``text_key``), a quarter of the width, which is what
decides how long a scan over millions of entries takes. Two texts sharing a
key (odds about n²/2⁶⁵ for n distinct texts, 3·10⁻⁸ for a million) would be
counted together by analytics; every lookup outside analytics stays exact.

Schema changes go through Alembic revisions in ``migrations/``; the test
suite checks that these models and the migrations describe the same schema.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, ClassVar, Final
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from adaptive.storage.sql.dialect import Payload
from adaptive.storage.sql.nul import NulSafeText

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
DIGEST_BYTES: Final = 32

LEARNER_STATE_KINDS: Final = ("plan", "trie", "accumulators")

COHORT_SEPARATOR: Final = "|"
"""Joins a cohort's sorted tool names in ``calls.cohort_tools``, as its plan group id does."""


def text_digest(value: str) -> bytes:
    """The indexed stand-in for an unbounded text value (SHA-256 of its UTF-8 bytes).

    PostgreSQL computes the same value as ``sha256(convert_to(value, 'UTF8'))``.
    """
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def text_key(value: str) -> int:
    """The compact analytics stand-in for a text: its digest's first 8 bytes, signed."""
    return digest_key(text_digest(value))


def digest_key(digest: bytes) -> int:
    """``text_key`` from an already computed digest ``d``.

    PostgreSQL computes the same value as
    ``('x' || encode(substr(d, 1, 8), 'hex'))::bit(64)::bigint``.
    """
    return int.from_bytes(digest[:8], "big", signed=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        bytes: LargeBinary(DIGEST_BYTES),
        dict[str, Any]: Payload,
        str: NulSafeText(),
        UUID: Uuid(),
    }


class Agent(Base):
    """Every agent that has stored a run, so listing agents never scans the runs."""

    __tablename__ = "agents"

    agent_digest: Mapped[bytes] = mapped_column(primary_key=True)
    agent_id: Mapped[str]
    created_at: Mapped[datetime]


class Run(Base):
    """One ``RunRecord``, identified by (agent, run id) as NeMo Relay's ``runs:{agent}:{id}``;
    ``seq`` is the agent's storage order (NeMo Relay's runs_index)."""

    __tablename__ = "runs"

    id: Mapped[UUID]
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    agent_digest: Mapped[bytes]
    agent_id: Mapped[str]
    started_at: Mapped[datetime]
    started_at_ns: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[datetime | None]
    ended_at_ns: Mapped[int | None] = mapped_column(BigInteger)
    duration_us: Mapped[int | None] = mapped_column(BigInteger)
    """``ended_at_ns - started_at_ns`` in whole microseconds, truncated toward zero
    (``whole_micros_between``); ``NULL`` while the run is open. Revision 0003."""
    call_count: Mapped[int] = mapped_column(Integer)
    llm_call_count: Mapped[int] = mapped_column(Integer)
    tool_call_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str]
    """``open`` (no end yet) or ``completed``; whether it failed is ``end_status``."""
    extra: Mapped[dict[str, Any] | None]
    """Fields of the run this version of adaptive does not know (newer NeMo Relay)."""
    end_status: Mapped[str | None]
    """The record's ``status``: ``error`` when the agent scope ended with an error."""
    agent_key: Mapped[int | None] = mapped_column(BigInteger)
    """``text_key(agent_id)``, for analytics (written by every writer, filled in by 0002)."""

    __table_args__ = (
        PrimaryKeyConstraint("agent_digest", "id"),
        Index(None, "agent_digest", "started_at"),
        Index(None, "agent_digest", "seq"),
        CheckConstraint("status IN ('open', 'completed')", name="status"),
        Index(
            "ix_runs_analytics_by_start",
            "started_at",
            postgresql_include=[
                "agent_key",
                "started_at_ns",
                "duration_us",
                "call_count",
                "end_status",
            ],
        ),
        Index(
            "ix_runs_analytics_by_duration",
            "duration_us",
            postgresql_include=["started_at", "agent_key"],
            postgresql_where=text("duration_us IS NOT NULL"),
            sqlite_where=text("duration_us IS NOT NULL"),
        ),
    )


class Call(Base):
    """One ``CallRecord``, at its ``position`` in the run's call list."""

    __tablename__ = "calls"

    run_id: Mapped[UUID]
    position: Mapped[int] = mapped_column(Integer)
    agent_digest: Mapped[bytes]
    agent_id: Mapped[str]
    kind: Mapped[str]
    name: Mapped[str]
    name_digest: Mapped[bytes]
    started_at: Mapped[datetime]
    started_at_ns: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[datetime | None]
    ended_at_ns: Mapped[int | None] = mapped_column(BigInteger)
    duration_us: Mapped[int | None] = mapped_column(BigInteger)
    """As ``runs.duration_us``: whole microseconds, ``NULL`` while unfinished."""
    model_name: Mapped[str | None]
    model_digest: Mapped[bytes | None]
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    total_tokens: Mapped[int | None] = mapped_column(BigInteger)
    tool_call_count: Mapped[int | None] = mapped_column(BigInteger)
    metadata_snapshot: Mapped[dict[str, Any] | None]
    annotated_request: Mapped[dict[str, Any] | None]
    annotated_response: Mapped[dict[str, Any] | None]
    extra: Mapped[dict[str, Any] | None]
    """Fields of the call this version of adaptive does not know (newer NeMo Relay)."""
    status: Mapped[str | None]
    """The record's ``status``: ``error`` when the call's end event reported a failure."""
    cohort_tools: Mapped[str | None]
    """The cohort (DESIGN §5.1) this tool call's start formed with the tool calls still
    running: their sorted names joined by ``|``; ``NULL`` when none was running."""
    cohort_width: Mapped[int | None] = mapped_column(Integer)
    """How many calls ``cohort_tools`` names."""
    fanout_width: Mapped[int | None] = mapped_column(Integer)
    """The widest cohort this tool call was part of; ``NULL``: it overlapped no other."""
    agent_key: Mapped[int | None] = mapped_column(BigInteger)
    name_key: Mapped[int | None] = mapped_column(BigInteger)
    model_key: Mapped[int | None] = mapped_column(BigInteger)
    cohort_key: Mapped[int | None] = mapped_column(BigInteger)
    """``text_key`` of ``agent_id``, ``name``, ``model_name`` and ``cohort_tools``."""

    __table_args__ = (
        PrimaryKeyConstraint("agent_digest", "run_id", "position"),
        ForeignKeyConstraint(
            ["agent_digest", "run_id"], ["runs.agent_digest", "runs.id"], ondelete="CASCADE"
        ),
        Index(
            "ix_calls_analytics_tools",
            "name_key",
            "started_at",
            postgresql_include=["agent_key", "duration_us", "fanout_width", "status"],
            postgresql_where=text("kind = 'tool'"),
            sqlite_where=text("kind = 'tool'"),
        ),
        Index(
            "ix_calls_analytics_llm",
            "model_key",
            "started_at",
            postgresql_include=[
                "agent_key",
                "duration_us",
                "status",
                "prompt_tokens",
                "output_tokens",
                "total_tokens",
            ],
            postgresql_where=text("kind = 'llm'"),
            sqlite_where=text("kind = 'llm'"),
        ),
        Index(
            "ix_calls_analytics_cohorts",
            "cohort_key",
            "started_at",
            postgresql_include=["agent_key", "cohort_width", "run_id"],
            postgresql_where=text("cohort_key IS NOT NULL"),
            sqlite_where=text("cohort_key IS NOT NULL"),
        ),
    )


class LearnerState(Base):
    """An agent's plan, trie or accumulators; ``version`` counts its writes."""

    __tablename__ = "learner_state"

    agent_digest: Mapped[bytes] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(primary_key=True)
    agent_id: Mapped[str]
    version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("kind IN ('plan', 'trie', 'accumulators')", name="kind"),)


class AcgWindow(Base):
    """An ACG key's observation window: its owner and where its rows are.

    The live observations of a key are its ``acg_observations`` rows with
    ``first_seq <= seq < next_seq``. Trimming deletes the rows below the new
    ``first_seq``; reads start their index range at ``first_seq``, so they
    never walk the rows that trimming left dead until VACUUM removes them
    (at full ingest speed that is thousands per second). The row also tells an
    empty window (``first_seq == next_seq``) from none at all.
    """

    __tablename__ = "acg_windows"

    key_digest: Mapped[bytes] = mapped_column(primary_key=True)
    acg_key: Mapped[str]
    agent_digest: Mapped[bytes]
    agent_id: Mapped[str]
    first_seq: Mapped[int] = mapped_column(BigInteger)
    next_seq: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]

    __table_args__ = (Index(None, "agent_digest"),)


class AcgObservation(Base):
    """One ``PromptIR`` of an ACG key's window; ``seq`` orders the window.

    A window changes by appending rows and deleting the evicted oldest ones,
    never by rewriting the rows it keeps.
    """

    __tablename__ = "acg_observations"

    key_digest: Mapped[bytes] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    acg_key: Mapped[str]
    agent_digest: Mapped[bytes]
    agent_id: Mapped[str]
    ir_id: Mapped[UUID]
    payload: Mapped[dict[str, Any]]
    observed_at: Mapped[datetime | None]
    """When the observation was made (its ``created_at``), for windowed analytics."""


class AcgStability(Base):
    """The stability result of an ACG key's window."""

    __tablename__ = "acg_stability"

    key_digest: Mapped[bytes] = mapped_column(primary_key=True)
    acg_key: Mapped[str]
    agent_digest: Mapped[bytes]
    agent_id: Mapped[str]
    version: Mapped[int] = mapped_column(Integer)
    stable_prefix_length: Mapped[int] = mapped_column(Integer)
    total_observations: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    stable_blocks: Mapped[int] = mapped_column(Integer, server_default="0")
    semi_stable_blocks: Mapped[int] = mapped_column(Integer, server_default="0")
    variable_blocks: Mapped[int] = mapped_column(Integer, server_default="0")
    """How many of the result's span scores fall in each class."""

    __table_args__ = (Index(None, "agent_digest"),)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


agents = _table(Agent)
runs = _table(Run)
calls = _table(Call)
learner_state = _table(LearnerState)
acg_windows = _table(AcgWindow)
acg_observations = _table(AcgObservation)
acg_stability = _table(AcgStability)
