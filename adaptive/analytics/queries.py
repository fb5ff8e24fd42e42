"""SQL analytics over the stored run history, on PostgreSQL and SQLite alike.

Each query is one SQLAlchemy Core statement whose values travel as bind
parameters, and returns frozen pydantic rows with scalar fields only, so any
consumer (the ``adaptive analytics`` command, the HTML report) can render
them generically from ``model_fields``. Every query takes a ``Window``: an
agent and a half-open time range ``[since, until)`` on the run's start (run
queries) or the call's start (call queries).

Where the numbers come from (columns added by revisions 0002 and 0003):

* failures: ``runs.end_status`` / ``calls.status`` are ``error`` when the end
  event reported ``otel.status_code: ERROR``;
* parallelism: each tool call row carries the cohort its start formed and the
  widest cohort it ran in (``cohort_*``, ``fanout_width``; DESIGN §5.1), so
  fan-out and parallel share are plain ``GROUP BY`` queries;
* durations: ``duration_us``, whole microseconds (revision 0003). Percentiles
  and sums are computed on the microseconds and reported in milliseconds with
  decimals (one division by 1000 of the result, in Python), so a tool call's
  6.742 ms median reads 6.742, not 6;
* percentiles follow ``percentile_cont``: linear interpolation between the two
  values around rank ``fraction * (n - 1)``. PostgreSQL computes them
  natively; SQLite, which has no such aggregate, from ``ROW_NUMBER`` and
  ``COUNT`` windows with the same arithmetic in the same order, so both give
  identical numbers for the same rows.

Queries group on the 64-bit ``*_key`` columns of agent, tool, model and
cohort, never on the unbounded text (see ``adaptive.storage.sql.models``),
and look the text up once per group. On PostgreSQL they read covering
indexes made for them (revision 0002): a call query walks one index range
per tool, model or cohort, a run query one range of runs, and neither
touches the table itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import KeyedColumnElement

from adaptive.config import BackendKind, BackendSpec
from adaptive.errors import ConfigError
from adaptive.learners.tool_parallelism import group_id_for
from adaptive.records import STATUS_ERROR, CallKind
from adaptive.storage.sql.backend import SqlBackend
from adaptive.storage.sql.dialect import POSTGRESQL, SqlDialect, dialect_for
from adaptive.storage.sql.errors import translated_errors
from adaptive.storage.sql.models import (
    COHORT_SEPARATOR,
    acg_observations,
    acg_stability,
    acg_windows,
    agents,
    calls,
    digest_key,
    runs,
    text_digest,
)
from adaptive.timestamps import millis_from_micros, to_datetime

QUERY_NAMES: Final = ("runs", "tools", "models", "fanout", "acg", "slowest")
"""The queries, by the names the command line and the report use."""

Bucket = Literal["hour", "day"]
BUCKET_NS: Final[Mapping[str, int]] = {"hour": 3_600 * 10**9, "day": 86_400 * 10**9}

SQL_KINDS: Final = (BackendKind.SQLITE, BackendKind.POSTGRES)

_Columns = Any
"""A subquery's column collection (``subquery.c``); SQLAlchemy types it loosely anyway."""


# -- inputs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Which history a query reads: one agent (or all) and a half-open time range.

    ``since`` is inclusive, ``until`` exclusive; naive datetimes are UTC.
    """

    agent_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if (
            self.since is not None
            and self.until is not None
            and _utc(self.since) >= _utc(self.until)
        ):
            raise ConfigError(
                f"the analytics window is empty: since ({self.since.isoformat()}) must be "
                f"before until ({self.until.isoformat()})"
            )

    @property
    def has_time_range(self) -> bool:
        return self.since is not None or self.until is not None


# -- rows --------------------------------------------------------------------------


class AnalyticsRow(BaseModel):
    """A result row: frozen, scalar fields only (str, int, float, None, datetime, UUID)."""

    model_config = ConfigDict(frozen=True)


class RunsOverTimeRow(AnalyticsRow):
    """Runs that started in one UTC hour or day."""

    bucket_start: datetime
    runs: int
    completed_runs: int
    """Runs with an end (the rest were still open when stored)."""
    failed_runs: int
    """Runs whose agent scope ended with ``otel.status_code: ERROR``."""
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    """Over completed runs, to the microsecond; ``None`` when the bucket has none."""
    calls_per_run: float
    """Mean LLM + tool calls per run."""


class ToolRow(AnalyticsRow):
    """One tool's calls that started in the window."""

    tool: str
    calls: int
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    p99_duration_ms: float | None
    """Over finished calls, to the microsecond; ``None`` when none finished."""
    parallel_calls: int
    """Calls that overlapped another tool call of their run (were in a cohort)."""
    parallel_share: float
    """``parallel_calls / calls``."""
    failed_calls: int


class ModelRow(AnalyticsRow):
    """One model's LLM calls that started in the window (``model`` ``None``: not reported)."""

    model: str | None
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    """Sums over the calls that reported usage."""
    mean_prompt_tokens: float | None
    mean_completion_tokens: float | None
    mean_total_tokens: float | None
    """Means over the calls that reported usage; ``None`` when none did."""
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    """Over finished calls, to the microsecond."""
    failed_calls: int


class FanoutRow(AnalyticsRow):
    """One observed parallel cohort: tool calls that overlapped in time (DESIGN §5.1)."""

    group_id: str
    """The id the plan gives this cohort's parallel group."""
    tool_names: str
    """The cohort's tool names, sorted, joined by ``|``."""
    width: int
    """How many tool calls ran together."""
    runs: int
    """Runs in which it was observed (the learner counts each run once)."""
    occurrences: int
    """Sweep steps that formed it (a run can form the same cohort more than once)."""


class AcgRow(AnalyticsRow):
    """One prompt-cache learning profile: its observation window and stability."""

    acg_key: str
    agent_id: str
    observations: int
    """Observations in the key's current window made within the time range (all when none)."""
    total_observations: int
    """Observations the stored stability result was computed from."""
    stable_prefix_length: int
    stable_blocks: int
    semi_stable_blocks: int
    variable_blocks: int
    updated_at: datetime


class SlowRunRow(AnalyticsRow):
    """One of the slowest completed runs, with where its time went.

    ``llm_ms`` and ``tool_ms`` sum call durations, so parallel calls can make
    them exceed ``duration_ms``. Every duration is in milliseconds to the
    microsecond (summed in whole microseconds, then divided once).
    """

    run_id: UUID
    agent_id: str
    started_at: datetime
    duration_ms: float
    status: str | None
    """``error`` when the run failed."""
    calls: int
    llm_calls: int
    tool_calls: int
    failed_calls: int
    parallel_tool_calls: int
    llm_ms: float
    tool_ms: float
    total_tokens: int
    slowest_call: str | None
    slowest_call_ms: float | None


# -- the queries -------------------------------------------------------------------


class Analytics:
    """The analytics queries against one SQL database at the current schema revision."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect: SqlDialect = dialect_for(engine.dialect.name)

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[Analytics]:
        """Analytics over the database at ``url`` (``sqlite:///…`` or ``postgresql://…``).

        The schema is checked as the SQL backend checks it: SQLite (or
        ``?auto_upgrade=true``) is upgraded, a PostgreSQL database behind the
        migrations is refused with the command that upgrades it.
        """
        require_sql_url(url)
        backend = SqlBackend(url)
        await backend.open()
        try:
            yield cls(backend.engine)
        finally:
            await backend.close()

    async def runs_over_time(self, window: Window, bucket: Bucket = "day") -> list[RunsOverTimeRow]:
        """Runs per UTC hour or day; buckets without runs are left out."""
        width = BUCKET_NS.get(bucket)
        if width is None:
            raise ConfigError(f"unknown bucket {bucket!r}; use 'hour' or 'day'")
        started = runs.c.started_at_ns
        facts = select(
            (started - started % literal(width, BigInteger)).label("bucket"),
            runs.c.duration_us,
            runs.c.call_count,
            runs.c.end_status,
        ).where(*_run_filters(window))

        def measures(c: _Columns) -> list[ColumnElement[Any]]:
            return [
                func.count().label("runs"),
                func.count(c.duration_us).label("completed_runs"),
                func.count().filter(c.end_status == STATUS_ERROR).label("failed_runs"),
                _mean(c.call_count).label("calls_per_run"),
            ]

        percentiles = {"p50_us": 0.5, "p95_us": 0.95}
        query = self._grouped(facts, "bucket", measures, percentiles)
        rows = await self._fetch("runs", query.order_by("bucket"))
        return [
            RunsOverTimeRow(
                bucket_start=to_datetime(row.bucket),
                runs=row.runs,
                completed_runs=row.completed_runs,
                failed_runs=row.failed_runs,
                p50_duration_ms=_millis(row.p50_us),
                p95_duration_ms=_millis(row.p95_us),
                calls_per_run=row.calls_per_run,
            )
            for row in rows
        ]

    async def tools(self, window: Window) -> list[ToolRow]:
        """Per tool: calls, duration percentiles, how many ran in parallel, failures."""

        def measures(c: _Columns) -> list[ColumnElement[Any]]:
            return [
                func.count().label("calls"),
                func.count(c.fanout_width).label("parallel_calls"),
                func.count().filter(c.status == STATUS_ERROR).label("failed_calls"),
            ]

        percentiles = {"p50_us": 0.5, "p95_us": 0.95, "p99_us": 0.99}
        used = ("duration_us", "fanout_width", "status")
        grouped = self._calls_per_key(TOOLS, window, measures, percentiles, used).subquery()
        name = TOOLS.text_of(calls.c.name, grouped.c.key)
        query = select(name.label("tool"), grouped).order_by(grouped.c.calls.desc(), "tool")
        return [
            ToolRow(
                tool=row.tool,
                calls=row.calls,
                p50_duration_ms=_millis(row.p50_us),
                p95_duration_ms=_millis(row.p95_us),
                p99_duration_ms=_millis(row.p99_us),
                parallel_calls=row.parallel_calls,
                parallel_share=row.parallel_calls / row.calls,
                failed_calls=row.failed_calls,
            )
            for row in await self._fetch("tools", query)
        ]

    async def models(self, window: Window) -> list[ModelRow]:
        """Per model: LLM calls, token sums and means, latency percentiles, failures."""

        def measures(c: _Columns) -> list[ColumnElement[Any]]:
            tokens = {
                "prompt": c.prompt_tokens,
                "completion": c.output_tokens,
                "total": c.total_tokens,
            }
            return [
                func.count().label("llm_calls"),
                *(_sum(column).label(f"{name}_tokens") for name, column in tokens.items()),
                *(_mean(column).label(f"mean_{name}_tokens") for name, column in tokens.items()),
                func.count().filter(c.status == STATUS_ERROR).label("failed_calls"),
            ]

        percentiles = {"p50_us": 0.5, "p95_us": 0.95}
        used = ("duration_us", "prompt_tokens", "output_tokens", "total_tokens", "status")
        grouped = self._calls_per_key(MODELS, window, measures, percentiles, used).subquery()
        model = MODELS.text_of(calls.c.model_name, grouped.c.key)
        query = select(model.label("model"), grouped).order_by(grouped.c.llm_calls.desc(), "model")
        latencies = {"p50_latency_ms": "p50_us", "p95_latency_ms": "p95_us"}
        counted = [name for name in ModelRow.model_fields if name not in latencies]
        return [
            ModelRow(
                **{name: row._mapping[name] for name in counted},
                **{name: _millis(row._mapping[label]) for name, label in latencies.items()},
            )
            for row in await self._fetch("models", query)
        ]

    async def fanout(self, window: Window) -> list[FanoutRow]:
        """Observed parallel cohorts, most frequent first."""

        def measures(c: _Columns) -> list[ColumnElement[Any]]:
            return [
                func.count().label("occurrences"),
                func.count(func.distinct(c.run_id)).label("runs"),
                func.max(c.cohort_width).label("width"),
            ]

        used = ("run_id", "cohort_width")
        grouped = self._calls_per_key(COHORTS, window, measures, {}, used).subquery()
        tools = COHORTS.text_of(calls.c.cohort_tools, grouped.c.key)
        query = select(tools.label("tool_names"), grouped).order_by(
            grouped.c.runs.desc(), grouped.c.occurrences.desc(), "tool_names"
        )
        return [
            FanoutRow(
                group_id=group_id_for(row.tool_names.split(COHORT_SEPARATOR)),
                tool_names=row.tool_names,
                width=row.width,
                runs=row.runs,
                occurrences=row.occurrences,
            )
            for row in await self._fetch("fanout", query)
        ]

    async def acg(self, window: Window) -> list[AcgRow]:
        """Per ACG learning profile: window size, stable prefix, blocks per stability class.

        A time range counts the observations of each key's current window
        made within it (when they were learned, which for a replayed trace
        is not when the calls ran) and leaves out keys with none. The copy
        of the best profile that the learner also stores under the plain
        agent id is left out: it repeats one of the profile rows.
        """
        stability, windows, observations = acg_stability.c, acg_windows.c, acg_observations.c
        live = and_(
            observations.key_digest == windows.key_digest,
            observations.seq >= windows.first_seq,
            observations.seq < windows.next_seq,
            *_time_range(observations.observed_at, window),
        )
        counted = func.count(observations.seq)
        query = (
            select(
                stability.acg_key,
                stability.agent_id,
                counted.label("observations"),
                stability.total_observations,
                stability.stable_prefix_length,
                stability.stable_blocks,
                stability.semi_stable_blocks,
                stability.variable_blocks,
                stability.updated_at,
            )
            .select_from(
                acg_stability.outerjoin(
                    acg_windows, windows.key_digest == stability.key_digest
                ).outerjoin(acg_observations, live)
            )
            .where(stability.acg_key != stability.agent_id, *_acg_owner(window))
            .group_by(*_acg_columns())
            .order_by(stability.acg_key)
        )
        if window.has_time_range:
            query = query.having(counted > 0)
        fields = AcgRow.model_fields
        return [
            AcgRow(
                **{name: row._mapping[name] for name in fields if name != "updated_at"},
                updated_at=_utc(row.updated_at),
            )
            for row in await self._fetch("acg", query)
        ]

    async def slowest(self, window: Window, limit: int = 10) -> list[SlowRunRow]:
        """The ``limit`` longest completed runs, each with its calls summed up by kind."""
        if limit < 1:
            raise ConfigError(f"limit must be at least 1, got {limit}")
        top = (
            select(
                runs.c.id,
                runs.c.agent_digest,
                runs.c.agent_id,
                runs.c.started_at_ns,
                runs.c.duration_us,
                runs.c.end_status,
                runs.c.call_count,
                runs.c.llm_call_count,
                runs.c.tool_call_count,
            )
            .where(runs.c.duration_us.is_not(None), *_run_filters(window))
            .order_by(runs.c.duration_us.desc(), runs.c.id)
            .limit(limit)
            .cte("top_runs")
        )
        breakdown = _call_breakdown(top)
        longest = _longest_call(top)
        query = (
            select(
                top,
                *(column for column in breakdown.c if column.key not in RUN_IDENTITY),
                longest.c.slowest_call,
                longest.c.slowest_call_us,
            )
            .select_from(
                top.outerjoin(breakdown, _same_run(breakdown, top)).outerjoin(
                    longest, _same_run(longest, top)
                )
            )
            .order_by(top.c.duration_us.desc(), top.c.id)
        )
        return [
            SlowRunRow(
                run_id=row.id,
                agent_id=row.agent_id,
                started_at=to_datetime(row.started_at_ns),
                duration_ms=millis_from_micros(row.duration_us),
                status=row.end_status,
                calls=row.call_count,
                llm_calls=row.llm_call_count,
                tool_calls=row.tool_call_count,
                failed_calls=row.failed_calls or 0,
                parallel_tool_calls=row.parallel_tool_calls or 0,
                llm_ms=millis_from_micros(row.llm_us or 0),
                tool_ms=millis_from_micros(row.tool_us or 0),
                total_tokens=row.total_tokens or 0,
                slowest_call=row.slowest_call,
                slowest_call_ms=_millis(row.slowest_call_us),
            )
            for row in await self._fetch("slowest", query)
        ]

    # -- plumbing ----------------------------------------------------------------

    async def _fetch(self, name: str, query: Select[Any]) -> Sequence[Any]:
        """Run one query in a read transaction; database errors become storage errors."""
        with translated_errors(self._dialect, f"running the {name!r} analytics query"):
            async with self._engine.connect() as connection:
                await connection.execution_options(**self._dialect.snapshot_read_options)
                async with connection.begin():
                    await self._tune(connection)
                    rows: Sequence[Any] = (await connection.execute(query)).all()
                    return rows

    async def _tune(self, connection: AsyncConnection) -> None:
        """PostgreSQL: settings for one large aggregate, for this transaction only.

        JIT compilation costs a fixed 100-300 ms that a query answered from an
        index in less than that never wins back; percentile sorts of a few
        million values fit in 64 MB instead of spilling to disk.
        """
        if self._dialect.name == POSTGRESQL:
            await connection.execute(text("SET LOCAL jit = off"))
            await connection.execute(text("SET LOCAL work_mem = '64MB'"))

    def _grouped(
        self,
        facts: Select[Any],
        key: str,
        measures: Callable[[_Columns], list[ColumnElement[Any]]],
        percentiles: Mapping[str, float],
    ) -> Select[Any]:
        """``facts`` grouped by its ``key`` column: ``measures`` and ``duration_us`` percentiles."""
        if self._dialect.name == POSTGRESQL or not percentiles:
            source = facts.subquery("facts")
            measured = [
                _native_percentile(source.c.duration_us, fraction).label(label)
                for label, fraction in percentiles.items()
            ]
        else:
            source = _ranked(facts.subquery("facts"), key)
            measured = [
                _interpolated_percentile(source.c, fraction).label(label)
                for label, fraction in percentiles.items()
            ]
        group = source.c[key]
        return select(group, *measures(source.c), *measured).group_by(group)

    def _calls_per_key(
        self,
        groups: _CallGroups,
        window: Window,
        measures: Callable[[_Columns], list[ColumnElement[Any]]],
        percentiles: Mapping[str, float],
        columns: Sequence[str],
    ) -> Select[Any] | CompoundSelect[Any]:
        """The window's calls of ``groups``, per key: ``key``, ``measures``, percentiles.

        ``columns`` names the ``calls`` columns ``measures`` read (and
        ``duration_us`` for the percentiles).

        PostgreSQL: the distinct keys come from skipping through the group's
        index (a recursive CTE, one probe per key), and each key's calls from
        one range scan of that index in a ``LATERAL`` subquery. Rows arrive
        grouped, so nothing but each key's durations is ever sorted. SQLite
        groups the filtered calls directly.
        """
        c = calls.c
        in_window = [*groups.scope(c), *_call_filters(window)]
        counted = measures(c)[0].name
        if self._dialect.name != POSTGRESQL:
            facts = select(c[groups.key].label("key"), *(c[name] for name in columns))
            return self._grouped(facts.where(*in_window), "key", measures, percentiles)
        keys = _distinct_keys(groups)
        measured = [
            *measures(c),
            *(
                _native_percentile(c.duration_us, fraction).label(label)
                for label, fraction in percentiles.items()
            ),
        ]
        per_key = (
            select(*measured).where(*in_window, c[groups.key] == keys.c.key).lateral("per_key")
        )
        query = (
            select(keys.c.key, per_key)
            .select_from(keys.join(per_key, true()))
            .where(per_key.c[counted] > 0)
        )
        if not groups.nullable:
            return query
        without_key = select(cast(null(), BigInteger).label("key"), *measured).where(
            *in_window, c[groups.key].is_(None)
        )
        return query.union_all(without_key.having(func.count() > 0))


# -- query parts -------------------------------------------------------------------


def history_url(spec: BackendSpec) -> str:
    """The SQL database holding the run history a backend spec names.

    A tiered backend keeps its history in its durable tier, so analytics read there.
    """
    from adaptive.storage.factory import backend_url

    if spec.kind is BackendKind.TIERED:
        durable = spec.config.get("durable")
        if isinstance(durable, str):
            return history_url(BackendSpec.from_url(durable))
        if isinstance(durable, dict):
            return history_url(BackendSpec.model_validate(durable))
    if spec.kind not in SQL_KINDS:
        raise ConfigError(
            f"analytics query the SQL run history, which a {spec.kind.value!r} backend does not "
            "keep; name a sqlite:/// or postgresql:// backend (or a tiered one with a SQL "
            "durable tier) with --backend or ADAPTIVE_BACKEND"
        )
    return backend_url(spec)


def require_sql_url(url: str) -> None:
    """Refuse backend URLs that keep no SQL run history, saying what to pass instead."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "tiered":
        raise ConfigError(
            "analytics need a SQL backend; a tiered backend keeps its run history in its "
            "durable tier, so pass that tier's URL (state.backend.config.durable, e.g. "
            "postgresql://user@host/db)"
        )
    kind = BackendSpec.from_url(url).kind
    if kind not in SQL_KINDS:
        raise ConfigError(
            f"analytics need a SQL backend (sqlite:///path.db or postgresql://user@host/db); "
            f"{scheme}:// names a {kind.value} backend, which keeps no SQL run history"
        )


def _utc(moment: datetime) -> datetime:
    """An aware UTC datetime (naive ones are taken as UTC, as stored)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _time_range(column: Any, window: Window) -> list[ColumnElement[bool]]:
    """``since <= column < until``, bound as UTC (SQLite compares the stored UTC text)."""
    conditions: list[ColumnElement[bool]] = []
    if window.since is not None:
        conditions.append(column >= _utc(window.since))
    if window.until is not None:
        conditions.append(column < _utc(window.until))
    return conditions


def _agent(key_column: Any, window: Window) -> list[ColumnElement[bool]]:
    """Rows of the window's agent, found through its ``agent_key``.

    The agent's text is checked once, against its ``agents`` row, rather
    than on every row: the covering indexes carry the 64-bit key, not the
    unbounded agent id (see ``adaptive.storage.sql.models``).
    """
    if window.agent_id is None:
        return []
    digest = text_digest(window.agent_id)
    known = exists().where(agents.c.agent_digest == digest, agents.c.agent_id == window.agent_id)
    return [key_column == digest_key(digest), known]


def _run_filters(window: Window) -> list[ColumnElement[bool]]:
    return [*_time_range(runs.c.started_at, window), *_agent(runs.c.agent_key, window)]


def _call_filters(window: Window) -> list[ColumnElement[bool]]:
    return [*_time_range(calls.c.started_at, window), *_agent(calls.c.agent_key, window)]


def _of_kind(kind: CallKind, c: _Columns = calls.c) -> ColumnElement[bool]:
    """``kind = '<kind>'`` with the constant inlined, not bound.

    The analytics indexes are partial (``WHERE kind = 'tool'``); PostgreSQL
    can only use one when the query's condition is that same constant, which
    a generic prepared plan with a parameter does not show it.
    """
    condition: ColumnElement[bool] = c.kind == literal(kind.value, literal_execute=True)
    return condition


@dataclass(frozen=True)
class _CallGroups:
    """Calls grouped by a ``*_key`` column that leads an analytics index."""

    key: str
    scope: Callable[[_Columns], list[ColumnElement[bool]]]
    """The index's ``WHERE``: which calls belong to these groups."""
    nullable: bool = False
    """Whether calls without a key (an LLM call with no model) form a group of their own."""

    def text_of(self, text_column: Any, key: Any) -> Any:
        """The text behind a key, from the first call carrying it.

        Ordered like the index (key, start), so that the planner reads one
        index entry rather than scanning the table until a rare key turns up.
        """
        c = calls.c
        found = select(text_column).where(*self.scope(c), c[self.key] == key)
        return found.order_by(c.started_at).limit(1).scalar_subquery()


TOOLS: Final = _CallGroups("name_key", lambda c: [_of_kind(CallKind.TOOL, c)])
MODELS: Final = _CallGroups("model_key", lambda c: [_of_kind(CallKind.LLM, c)], nullable=True)
COHORTS: Final = _CallGroups("cohort_key", lambda c: [c.cohort_key.is_not(None)])


def _distinct_keys(groups: _CallGroups) -> Any:
    """The groups' distinct non-null keys in order, then one ``NULL`` row (a recursive CTE).

    A loose index scan: each step asks the index for the first key above
    the previous one, so it costs one probe per key, however many calls
    each key has.
    """
    first, following = calls.alias("first_call"), calls.alias("next_call")
    first_key = first.c[groups.key]
    keys = (
        select(first_key.label("key"))
        .where(*groups.scope(first.c), first_key.is_not(None))
        .order_by(first_key)
        .limit(1)
        .cte("keys", recursive=True)
    )
    next_key = following.c[groups.key]
    step = (
        select(next_key)
        .where(*groups.scope(following.c), next_key > keys.c.key)
        .order_by(next_key)
        .limit(1)
        .scalar_subquery()
    )
    return keys.union_all(select(step).where(keys.c.key.is_not(None)))


def _acg_owner(window: Window) -> list[ColumnElement[bool]]:
    if window.agent_id is None:
        return []
    stability = acg_stability.c
    return [
        stability.agent_digest == text_digest(window.agent_id),
        stability.agent_id == window.agent_id,
    ]


def _acg_columns() -> list[KeyedColumnElement[Any]]:
    stability = acg_stability.c
    return [
        stability.key_digest,
        stability.acg_key,
        stability.agent_id,
        stability.total_observations,
        stability.stable_prefix_length,
        stability.stable_blocks,
        stability.semi_stable_blocks,
        stability.variable_blocks,
        stability.updated_at,
    ]


def _sum(column: Any) -> ColumnElement[Any]:
    """``SUM`` as an integer, 0 for no values (PostgreSQL sums bigints as numeric)."""
    return func.coalesce(cast(func.sum(column), BigInteger), 0)


def _mean(column: Any) -> ColumnElement[Any]:
    """``AVG`` in double precision on both databases, so both return the same double.

    Integer sums are exact in a double, so the mean is one rounding of
    sum/count everywhere; PostgreSQL's ``numeric`` mean would round
    differently in the last bit.
    """
    return func.avg(cast(column, Float))


def _millis(micros: float | None) -> float | None:
    """A duration the database gave in microseconds, in milliseconds; ``None`` stays."""
    return None if micros is None else millis_from_micros(micros)


def _native_percentile(value: Any, fraction: float) -> ColumnElement[Any]:
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY value)``.

    Several of them over the same values share one sort.
    """
    return type_coerce(func.percentile_cont(literal(fraction, Float)).within_group(value), Float)


def _ranked(facts: Any, key: str) -> Any:
    """``facts`` with each row's rank by ``duration_us`` in its group and the group's count.

    Rows without a duration (unfinished) rank last and are not counted, as
    ``percentile_cont`` ignores them.
    """
    value = facts.c.duration_us
    group = facts.c[key]
    return select(
        facts,
        func.row_number()
        .over(partition_by=group, order_by=[value.is_(None), value])
        .label("value_rank"),
        func.count(value).over(partition_by=group).label("value_count"),
    ).subquery("ranked")


def _interpolated_percentile(c: _Columns, fraction: float) -> ColumnElement[Any]:
    """``percentile_cont`` from ranks, with PostgreSQL's arithmetic.

    PostgreSQL takes the values at 0-based ranks ``floor(p * (n - 1))`` and
    the next one, and returns ``low + (p * (n - 1) - floor(...)) * (high -
    low)``; the same expression here gives bit-identical doubles.
    """
    position = literal(fraction, Float) * (c.value_count - 1)
    lower = cast(position, Integer)
    low = func.max(case((c.value_rank == lower + 1, c.duration_us)))
    high = func.max(case((c.value_rank == lower + 2, c.duration_us)))
    proportion = func.max(position - lower)
    return type_coerce(low + proportion * (func.coalesce(high, low) - low), Float)


RUN_IDENTITY: Final = ("agent_digest", "run_id")
"""A run is one (agent, run id): the same id may be stored for two agents."""


def _same_run(per_run: Any, top: Any) -> ColumnElement[bool]:
    return and_(per_run.c.agent_digest == top.c.agent_digest, per_run.c.run_id == top.c.id)


def _calls_of(top: Any) -> Any:
    """``calls`` joined to the runs of ``top`` (by agent and run id)."""
    return calls.join(
        top, and_(calls.c.agent_digest == top.c.agent_digest, calls.c.run_id == top.c.id)
    )


def _call_breakdown(top: Any) -> Any:
    """Per run of ``top``: its calls' failures, parallelism, time and tokens by kind."""
    is_llm = _of_kind(CallKind.LLM)
    is_tool = _of_kind(CallKind.TOOL)
    return (
        select(
            calls.c.agent_digest,
            calls.c.run_id,
            func.count().filter(calls.c.status == STATUS_ERROR).label("failed_calls"),
            func.count(calls.c.fanout_width).label("parallel_tool_calls"),
            _sum(case((is_llm, calls.c.duration_us))).label("llm_us"),
            _sum(case((is_tool, calls.c.duration_us))).label("tool_us"),
            _sum(calls.c.total_tokens).label("total_tokens"),
        )
        .select_from(_calls_of(top))
        .group_by(calls.c.agent_digest, calls.c.run_id)
        .subquery("breakdown")
    )


def _longest_call(top: Any) -> Any:
    """Per run of ``top``: its longest finished call (the first one, on a tie)."""
    duration = calls.c.duration_us
    ranked = (
        select(
            calls.c.agent_digest,
            calls.c.run_id,
            calls.c.name,
            duration,
            func.row_number()
            .over(
                partition_by=[calls.c.agent_digest, calls.c.run_id],
                order_by=[duration.is_(None), duration.desc(), calls.c.position],
            )
            .label("call_rank"),
        )
        .select_from(_calls_of(top))
        .subquery("ranked_calls")
    )
    return (
        select(
            ranked.c.agent_digest,
            ranked.c.run_id,
            ranked.c.name.label("slowest_call"),
            ranked.c.duration_us.label("slowest_call_us"),
        )
        .where(ranked.c.call_rank == 1)
        .subquery("longest")
    )


__all__ = [
    "QUERY_NAMES",
    "AcgRow",
    "Analytics",
    "AnalyticsRow",
    "Bucket",
    "FanoutRow",
    "ModelRow",
    "RunsOverTimeRow",
    "SlowRunRow",
    "ToolRow",
    "Window",
    "history_url",
    "require_sql_url",
]
