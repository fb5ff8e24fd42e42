"""``SqlBackend``: run history and learner state in PostgreSQL or SQLite.

One code base for both databases (SQLAlchemy 2 Core on asyncpg/aiosqlite;
the differences are in ``dialect.py``). Each ``run_unit_of_work`` call is one
transaction; see ``unit.py`` for how it locks and detects lost updates, and
retries the unit when it loses a race. Reads outside a unit run in short read
transactions of their own.

Opening checks the schema: SQLite (or ``auto_upgrade=True``) migrates itself
to the newest revision, so an embedded database needs no set-up; PostgreSQL
is shared by many processes and owned by whoever deploys it, so opening it
behind the newest revision fails with ``SchemaOutdatedError`` naming the
command that upgrades it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adaptive.acg import PromptIR, StabilityAnalysisResult
from adaptive.errors import StorageError, StorageUnavailableError
from adaptive.plan import ExecutionPlan
from adaptive.records import RunRecord
from adaptive.storage.protocol import UnitOfWork
from adaptive.storage.sql import queries
from adaptive.storage.sql.caches import DecodedCaches
from adaptive.storage.sql.dialect import WRITE_OPTION, SqlDialect, dialect_for
from adaptive.storage.sql.engine import create_engine
from adaptive.storage.sql.errors import ConcurrentUpdateError, translated_errors
from adaptive.storage.sql.revision import ensure_schema
from adaptive.storage.sql.unit import SqlUnitOfWork
from adaptive.storage.sql.urls import async_url, display_url, flag_option
from adaptive.trie import AccumulatorState, TrieEnvelope

logger = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S")

MAX_ATTEMPTS: Final = 8
"""Runs of one unit before a lost race is reported as an outage (the drain retries later)."""
RETRY_BASE_DELAY_S: Final = 0.005


class SqlBackend:
    """The ``StorageBackend`` for ``postgresql://…`` and ``sqlite:///…`` URLs.

    ``auto_upgrade`` (also accepted as ``?auto_upgrade=true`` in the URL)
    defaults to ``True`` for SQLite and ``False`` for PostgreSQL. Other
    keyword arguments go to SQLAlchemy's ``create_async_engine``
    (``pool_size``, ``echo``, ``connect_args``, …).
    """

    def __init__(
        self,
        url: str,
        *,
        auto_upgrade: bool | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        **engine_options: Any,
    ) -> None:
        self.url = url
        self._target = async_url(url)
        self.dialect: SqlDialect = dialect_for(self._target.get_backend_name())
        if auto_upgrade is None:
            auto_upgrade = flag_option(url, "auto_upgrade")
        self.auto_upgrade = (
            self.dialect.auto_upgrade_default if auto_upgrade is None else auto_upgrade
        )
        self.max_attempts = max_attempts
        self._engine_options = engine_options
        self._engine: AsyncEngine | None = None
        self._caches = DecodedCaches()

    def __repr__(self) -> str:
        return f"SqlBackend({display_url(self.url)!r})"

    @property
    def engine(self) -> AsyncEngine:
        """The open engine (for analytics queries); raises if the backend is not open."""
        if self._engine is None:
            raise StorageError(f"{self!r} is not open; call open() first")
        return self._engine

    async def open(self) -> None:
        if self._engine is not None:
            return
        engine = create_engine(self._target, **self._engine_options)
        try:
            with translated_errors(self.dialect, f"opening {display_url(self.url)}"):
                await ensure_schema(engine, self.url, auto_upgrade=self.auto_upgrade)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    # -- units of work --------------------------------------------------------

    async def run_unit_of_work(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self._run_once(work)
            except ConcurrentUpdateError as conflict:
                if attempt == self.max_attempts:
                    raise StorageUnavailableError(
                        f"gave up after {attempt} attempts to commit a unit of work "
                        f"against {display_url(self.url)}: {conflict}"
                    ) from conflict
                logger.debug("unit of work attempt %d lost a race, retrying: %s", attempt, conflict)
                await asyncio.sleep(random.uniform(0, RETRY_BASE_DELAY_S * 2**attempt))
        raise AssertionError("unreachable: max_attempts must be at least 1")

    async def _run_once(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction: commit if it returns, roll back if it raises."""
        engine = self.engine
        with translated_errors(self.dialect, f"connecting to {display_url(self.url)}"):
            connection = await engine.connect()
        try:
            with translated_errors(self.dialect, "starting a unit of work"):
                await connection.execution_options(**{WRITE_OPTION: True})
                await connection.begin()
            unit = SqlUnitOfWork(connection, self.dialect, self._caches)
            result = await work(unit)
            await unit.flush()
            with translated_errors(self.dialect, "committing a unit of work"):
                await connection.commit()
            unit.cache_committed()
            return result
        finally:
            await connection.close()  # rolls back whatever was not committed

    # -- reads ----------------------------------------------------------------

    @asynccontextmanager
    async def _reading(self, action: str) -> AsyncIterator[AsyncConnection]:
        """A connection in a short read transaction with one snapshot for all its queries.

        Database errors inside become storage errors.
        """
        engine = self.engine
        with translated_errors(self.dialect, action):
            async with engine.connect() as connection:
                await connection.execution_options(**self.dialect.snapshot_read_options)
                async with connection.begin():
                    yield connection

    async def load_plan(self, agent_id: str) -> ExecutionPlan | None:
        return await self._learner_state(agent_id, queries.PLAN)

    async def load_trie(self, agent_id: str) -> TrieEnvelope | None:
        return await self._learner_state(agent_id, queries.TRIE)

    async def load_accumulators(self, agent_id: str) -> AccumulatorState | None:
        return await self._learner_state(agent_id, queries.ACCUMULATORS)

    async def _learner_state(self, agent_id: str, kind: queries.StateKind[S]) -> S | None:
        async with self._reading(f"loading the {kind.name} of an agent") as connection:
            found = await queries.fetch_learner_state(connection, agent_id, kind, self._caches)
        return None if found is None else found[1]

    async def load_observations(self, key: str) -> list[PromptIR] | None:
        async with self._reading("loading ACG observations") as connection:
            _, observations = await queries.fetch_window(connection, key, self._caches)
        return observations

    async def load_stability(self, key: str) -> StabilityAnalysisResult | None:
        async with self._reading("loading an ACG stability result") as connection:
            stored = await queries.fetch_stability(connection, key)
        return queries.decode_stability(stored)

    async def list_agents(self) -> list[str]:
        async with self._reading("listing agents") as connection:
            return await queries.fetch_agents(connection)

    async def list_run_ids(self, agent_id: str) -> list[UUID]:
        async with self._reading("listing run ids") as connection:
            return await queries.fetch_run_ids(connection, agent_id)

    async def load_runs(self, agent_id: str, run_ids: Sequence[UUID]) -> list[RunRecord]:
        if not run_ids:
            return []
        async with self._reading(f"loading {len(run_ids)} run(s)") as connection:
            return await queries.fetch_runs(connection, agent_id, run_ids)

    async def list_acg_keys(self, agent_id: str) -> list[str]:
        async with self._reading("listing ACG keys") as connection:
            return await queries.fetch_acg_keys(connection, agent_id)
