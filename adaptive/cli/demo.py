"""``adaptive demo``: the whole loop on a fresh machine, in seconds, with no services.

A new user should see what the package learns before wiring it to a real
agent runtime. The demo simulates a realistic workload
(``adaptive.events.synthetic``), ingests it through exactly the path
``adaptive ingest`` takes into a new SQLite file, then prints what was
learned, read back through the storage protocol and the SQL analytics as an
operator would read it later.
"""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from adaptive.analytics.queries import Analytics, AnalyticsRow, Window
from adaptive.analytics.views import VIEWS, fetch_all
from adaptive.cli import inspection, render
from adaptive.cli.ingest import IngestSummary, batch_gc_thresholds, ingest
from adaptive.cli.tabular import rows_table
from adaptive.config import AdaptiveConfig
from adaptive.errors import AdaptiveError
from adaptive.events.synthetic import HOUR_NS, WorkloadSpec, synthetic_events, write_jsonl
from adaptive.plan import ExecutionPlan
from adaptive.timestamps import now_ns

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_HEADER_BYTES = 100
DEMO_APPLICATION_ID = int.from_bytes(b"adpd", "big")
"""Written into the SQLite header's application id field (bytes 68-71) of demo databases."""
ANALYTICS_COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": ("bucket_start", "runs", "failed_runs", "p50_duration_ms", "p95_duration_ms"),
    "tools": (
        "tool",
        "calls",
        "p50_duration_ms",
        "p95_duration_ms",
        "p99_duration_ms",
        "parallel_share",
        "failed_calls",
    ),
    "models": (
        "model",
        "llm_calls",
        "prompt_tokens",
        "completion_tokens",
        "p50_latency_ms",
        "p95_latency_ms",
    ),
    "fanout": ("tool_names", "width", "runs", "occurrences"),
    "slowest": ("run_id", "duration_ms", "status", "llm_ms", "tool_ms", "slowest_call"),
}
"""The columns the demo shows, so that its tables fit a terminal; the commands show all.

``acg`` is left out: the learned stability per profile is printed just before.
"""
SLOWEST_SHOWN = 5


@dataclass(frozen=True)
class DemoOptions:
    db: Path = Path("adaptive-demo.db")
    force: bool = False
    runs: int = 150
    seed: int = 7
    trace: Path | None = None
    """Where to keep the simulated ATOF trace, to ingest it again elsewhere."""


@dataclass(frozen=True)
class DemoResult:
    """What the demo stored and learned, as read back from the database."""

    url: str
    agent_id: str
    ingest: IngestSummary
    plan: ExecutionPlan | None
    hints: inspection.HintsView
    stability: list[inspection.ProfileStabilityRow]
    analytics: dict[str, Sequence[AnalyticsRow]]
    seconds: float


def prepare_database(path: Path, force: bool) -> None:
    """Start from an empty database; replace only a previous demo's file unless forced.

    Running the demo again must just work, but a file someone else put at
    that path is theirs: the demo marks its databases in the SQLite header
    (``application_id``) and refuses to replace any other file without ``--force``.
    """
    if path.exists() and not force and not is_demo_database(path):
        raise AdaptiveError(
            f"{path} already exists and was not made by adaptive demo; pass --force to "
            "overwrite it, or --db to choose another file"
        )
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES)):
        candidate.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(f"PRAGMA application_id = {DEMO_APPLICATION_ID}")
        connection.commit()


def is_demo_database(path: Path) -> bool:
    """Whether the file is a SQLite database whose header carries the demo's mark."""
    with path.open("rb") as handle:
        header = handle.read(SQLITE_HEADER_BYTES)
    marked = int.from_bytes(header[68:72], "big") == DEMO_APPLICATION_ID
    return header.startswith(SQLITE_MAGIC) and marked


def workload(options: DemoOptions) -> WorkloadSpec:
    """The simulated week ends at the current hour, so time filters like --since 1d make sense."""
    end = now_ns() // HOUR_NS * HOUR_NS
    return WorkloadSpec(runs=options.runs, seed=options.seed, end_ns=end)


def simulated_trace(spec: WorkloadSpec, keep: Path | None) -> io.BytesIO:
    trace = io.BytesIO()
    write_jsonl(synthetic_events(spec), trace)
    if keep is not None:
        keep.write_bytes(trace.getvalue())
    trace.seek(0)
    return trace


async def run_demo(options: DemoOptions) -> DemoResult:
    """Simulate, ingest into a new SQLite file, and read back what was learned."""
    started = time.perf_counter()
    prepare_database(options.db, options.force)
    url = f"sqlite:///{options.db}"
    spec = workload(options)
    config = AdaptiveConfig().with_backend_url(url)
    with batch_gc_thresholds():
        summary = await ingest(simulated_trace(spec, options.trace), config)
    agent = spec.agent_name
    async with inspection.opened_backend(config.backend) as backend:
        plan = await backend.load_plan(agent)
        trie = await backend.load_trie(agent)
        stability = await inspection.profile_stability(backend, agent)
    hints = inspection.hints_view(
        agent, None if trie is None else trie.root, config.sensitivity_scale
    )
    analytics = await _analytics(url)
    return DemoResult(
        url=url,
        agent_id=agent,
        ingest=summary,
        plan=plan,
        hints=hints,
        stability=stability,
        analytics=analytics,
        seconds=time.perf_counter() - started,
    )


async def _analytics(url: str) -> dict[str, Sequence[AnalyticsRow]]:
    async with Analytics.open(url) as analytics:
        return await fetch_all(analytics, Window())


def print_demo(console: Console, result: DemoResult) -> None:
    """Everything learned, section by section, then how to look further."""
    summary, stats = result.ingest, result.ingest.stats
    console.print(Rule("adaptive demo: a simulated research agent"))
    console.print(
        f"simulated {stats.runs_completed} runs ({summary.report.events:,} ATOF events: "
        f"parallel tool calls, 3 models, stable and variable prompt blocks); "
        f"stored {stats.runs_stored} runs in {result.url}"
    )
    console.print(Rule("learned: parallel tool groups (tool_parallelism)"))
    console.print(render.plan_renderable(result.agent_id, result.plan))
    console.print(Rule("learned: agent hints (latency_sensitivity)"))
    console.print(render.hints_renderable(result.hints))
    console.print(Rule("learned: prompt-cache stability (acg)"))
    console.print(render.stability_renderable(result.agent_id, result.stability))
    console.print(Rule("analytics over the stored run history (adaptive analytics ...)"))
    for name, columns in ANALYTICS_COLUMNS.items():
        view = VIEWS[name]
        rows = (
            result.analytics[name][:SLOWEST_SHOWN] if name == "slowest" else result.analytics[name]
        )
        title = f"{view.title} (adaptive analytics {name})"
        console.print(rows_table(view.row_model(), rows, title, columns))
    console.print(Rule())
    console.print(f"done in {result.seconds:.1f} s. Look further with:")
    for command in _next_commands(result.url):
        console.print(f"  {command}", highlight=False, markup=False)


def _next_commands(url: str) -> list[str]:
    return [
        f"adaptive runs list --backend {url}",
        f"adaptive hints show --backend {url} --path plan --call-index 2",
        f"adaptive analytics tools --backend {url} --format csv",
        f"adaptive report --backend {url} --out report.html",
    ]
