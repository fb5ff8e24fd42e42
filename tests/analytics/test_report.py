"""``adaptive report``: one self-contained HTML page that a real browser renders cleanly.

The page is opened in headless Chromium (Debian's ``chromium`` package, which
the README's test command and ``.ci/run`` install), driven by Playwright. The
browser must log no console error and no page error, fetch nothing but the
page itself, and show every analytics table and the four charts.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, sync_playwright

from adaptive.analytics.queries import QUERY_NAMES, RunsOverTimeRow, ToolRow
from adaptive.analytics.report import nice_ticks, runs_chart, tool_latency_chart
from adaptive.analytics.views import VIEWS
from adaptive.cli.app import app
from adaptive.cli.demo import DemoOptions, run_demo
from tests.cli_runs import runner
from tests.cli_support import ingest_sample, invoke, invoke_failing

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


def chromium_executable() -> str:
    """Debian's Chromium; the test fails (never skips) when it is missing."""
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "the report test needs Chromium to render the page and none is installed: "
        "apt-get install -y chromium (the README's test command and .ci/run do this)",
        pytrace=False,
    )


@dataclass
class Rendered:
    """A page loaded in the browser, with everything it complained about or fetched."""

    page: Page
    errors: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)


@contextmanager
def rendered(report: Path) -> Iterator[Rendered]:
    """The report open in headless Chromium for the duration of the block.

    Playwright's synchronous API runs an event loop of its own, so the
    commands (which call ``asyncio.run``) must run before the block, not in it.
    """
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable())
        try:
            page = browser.new_page()
            result = Rendered(page)
            watch(page, result)
            page.goto(report.as_uri(), wait_until="load")
            yield result
        finally:
            browser.close()


def watch(page: Page, result: Rendered) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            result.errors.append(f"console: {message.text}")

    def on_request(request: Request) -> None:
        result.fetched.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: result.errors.append(f"page error: {error}"))
    page.on("request", on_request)
    page.on("requestfailed", lambda request: result.errors.append(f"failed: {request.url}"))


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database holding the demo workload (three models, fan-outs, failures)."""
    db = tmp_path_factory.mktemp("report") / "demo.db"
    asyncio.run(run_demo(DemoOptions(db=db, runs=60)))
    return f"sqlite:///{db}"


def write_report(backend: str, out: Path, *options: str) -> str:
    result = invoke("report", "--backend", backend, "--out", str(out), *options)
    assert f"wrote {out}" in result.stdout
    return out.read_text()


def test_the_report_renders_in_chromium_with_every_table_and_chart(
    demo_db: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    write_report(demo_db, report)
    with rendered(report) as shown:
        assert shown.errors == []
        assert shown.fetched == [report.as_uri()], "the page must fetch nothing"
        check_tables_and_charts(shown.page)


def check_tables_and_charts(page: Page) -> None:
    assert page.title() == "adaptive report"

    for name in QUERY_NAMES:
        headers = page.locator(f"#table-{name} thead th").all_inner_texts()
        fields = VIEWS[name].row_model().model_fields
        assert headers == [field.replace("_", " ") for field in fields], name
        assert page.locator(f"#table-{name} tbody tr").count() > 0, name

    bars = {
        chart: page.locator(f"#chart-{chart} svg rect.bar").count()
        for chart in ("runs", "tool-latency", "tokens", "stable-prefix")
    }
    runs_rows = page.locator("#table-runs tbody tr").count()
    assert bars["runs"] == 2 * runs_rows, "ok and failed segment per bucket"
    assert bars["tool-latency"] == 3 * page.locator("#table-tools tbody tr").count()
    assert bars["tokens"] == 2 * page.locator("#table-models tbody tr").count() == 6
    assert bars["stable-prefix"] == 2 * page.locator("#table-acg tbody tr").count() == 6
    for chart in bars:
        box = page.locator(f"#chart-{chart} svg").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 50, chart
    assert page.locator(".card").count() == 5
    assert "per day" in page.locator("#chart-runs figcaption").inner_text()


def test_an_empty_window_renders_notes_instead_of_charts(demo_db: str, tmp_path: Path) -> None:
    report = tmp_path / "empty.html"
    write_report(demo_db, report, "--since", "2999-01-01")
    with rendered(report) as shown:
        assert shown.errors == []
        assert shown.page.locator("figure.chart svg").count() == 0
        assert shown.page.locator("figure.chart .empty").count() == 4
        assert shown.page.locator("td.empty").count() == len(QUERY_NAMES)


def test_the_page_is_self_contained(demo_db: str, tmp_path: Path) -> None:
    page = write_report(demo_db, tmp_path / "report.html")
    assert (
        "http://" not in page
        and "https://" not in page
        and "//" not in page.replace("sqlite:///", "")
    )
    assert "<script" not in page and " src=" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_a_short_history_is_charted_by_the_hour(sql_url: str, tmp_path: Path) -> None:
    backend = ["--backend", sql_url]
    ingest_sample(backend)
    page = write_report(sql_url, tmp_path / "sample.html", "--agent-id", "planner")
    assert "runs started per hour (UTC)" in page
    assert 'id="table-tools"' in page and "write_report" in page


def test_an_unwritable_output_is_an_actionable_error(demo_db: str, tmp_path: Path) -> None:
    result = invoke_failing("report", "--backend", demo_db, "--out", str(tmp_path))
    assert f"cannot write the report to {tmp_path}" in result.stderr
    assert "--out" in result.stderr


def test_the_default_output_is_report_html_in_the_working_directory(
    demo_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", "--backend", demo_db])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_axis_ticks_are_round_numbers_covering_the_largest_value() -> None:
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(30) == [0, 10, 20, 30]
    assert nice_ticks(3334) == [0, 1000, 2000, 3000, 4000]
    assert nice_ticks(101_899) == [0, 50_000, 100_000, 150_000]
    assert nice_ticks(6) == [0, 2, 4, 6]


def test_days_without_runs_are_drawn_empty_not_skipped() -> None:
    def day(number: int, runs: int, failed: int) -> RunsOverTimeRow:
        return RunsOverTimeRow(
            bucket_start=datetime(2026, 11, number, tzinfo=UTC),
            runs=runs,
            completed_runs=runs,
            failed_runs=failed,
            p50_duration_ms=None,
            p95_duration_ms=None,
            calls_per_run=1.0,
        )

    chart = runs_chart([day(20, 5, 1), day(22, 3, 0)], "day")
    assert [bar.label for bar in chart.bars] == ["11-20", "11-21", "11-22"]
    assert [bar.segments for bar in chart.bars] == [(4.0, 1.0), (0, 0), (3.0, 0.0)]
    assert "no runs" in chart.bars[1].tooltip


def test_tool_latency_tooltips_show_the_microseconds() -> None:
    row = ToolRow(
        tool="search",
        calls=4,
        p50_duration_ms=6.742,
        p95_duration_ms=9.0126,
        p99_duration_ms=1234.5,
        parallel_calls=0,
        parallel_share=0.0,
        failed_calls=0,
    )
    (bar,) = tool_latency_chart([row]).bars
    assert bar.tooltip == "search: p50 6.742 ms, p95 9.013 ms, p99 1,234 ms over 4 calls"
    assert bar.segments == pytest.approx((6.742, 9.0126 - 6.742, 1234.5 - 9.0126))
