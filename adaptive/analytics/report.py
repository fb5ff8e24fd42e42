"""``adaptive report``: the analytics as one self-contained HTML page.

The page is meant to be mailed, attached to a ticket or opened from an
air-gapped host, so it fetches nothing: CSS is inline, charts are SVG drawn
here in Python, there is no JavaScript, and a Content-Security-Policy forbids
the browser any fetch should a future edit add one. Tables are rendered from
the analytics rows' fields, so new columns appear without changes here; only
the four charts name the fields they plot.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adaptive.analytics.cells import cell, field_names, heading
from adaptive.analytics.queries import (
    AcgRow,
    Analytics,
    AnalyticsRow,
    ModelRow,
    RunsOverTimeRow,
    ToolRow,
    Window,
)
from adaptive.analytics.views import VIEWS, fetch_all, fetch_rows
from adaptive.errors import AdaptiveError
from adaptive.storage.sql.urls import display_url

LONG_TEXT = 48
"""Cells longer than this wrap; shorter ones (names, ids, times) stay on one line."""
MIN_DAILY_BUCKETS = 3
MAX_TIME_BARS = 400
"""Longer time axes show only the buckets with runs, rather than hundreds of empty bars."""
BUCKET_WIDTH = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
"""Fewer days of history than this are charted by the hour instead."""

CSS = """
:root { --ink: #1f2933; --muted: #61707d; --line: #d9e0e6; --bg: #f7f9fb;
  --c1: #2f6fb0; --c2: #7fb1e3; --c3: #c9def3; --bad: #d0553f; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
  Roboto, sans-serif; color: var(--ink); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 12px; }
.meta { color: var(--muted); margin: 0 0 20px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 24px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px;
  min-width: 140px; }
.card .value { font-size: 20px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 12px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 16px;
  margin-bottom: 20px; overflow-x: auto; }
figure.chart { margin: 0 0 16px; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
svg text { font: 11px system-ui, sans-serif; fill: var(--ink); }
svg .axis { stroke: var(--line); stroke-width: 1; }
.seg-0 { fill: var(--c1); } .seg-1 { fill: var(--c2); } .seg-2 { fill: var(--c3); }
.seg-bad { fill: var(--bad); }
.legend { display: flex; gap: 16px; font-size: 12px; color: var(--muted); margin: 4px 0 0; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.swatch.seg-0 { background: var(--c1); } .swatch.seg-1 { background: var(--c2); }
.swatch.seg-2 { background: var(--c3); } .swatch.seg-bad { background: var(--bad); }
table.data { border-collapse: collapse; width: 100%; font-size: 12.5px; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 4px 8px;
  text-align: left; vertical-align: top; white-space: nowrap; }
table.data td.long { white-space: normal; overflow-wrap: anywhere; min-width: 24em; }
table.data th { color: var(--muted); font-weight: 600; white-space: nowrap; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.empty { color: var(--muted); font-style: italic; }
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@dataclass(frozen=True)
class ReportContext:
    """What the page says about where its numbers come from."""

    source: str
    window: Window
    bucket: str
    generated_at: datetime


# -- charts -------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bar of a stacked bar chart: a label and its segments, bottom/left first."""

    label: str
    segments: tuple[float, ...]
    tooltip: str


@dataclass(frozen=True)
class Chart:
    """A stacked bar chart: bars, one legend entry per segment, and a caption."""

    chart_id: str
    title: str
    bars: tuple[Bar, ...]
    legend: tuple[str, ...]
    caption: str
    """Says what is plotted, in which unit."""
    segment_classes: tuple[str, ...] = ("seg-0", "seg-1", "seg-2")


def nice_ticks(largest: float, count: int = 4) -> list[float]:
    """Round axis ticks from 0 to at least ``largest`` (1, 2 or 5 times a power of ten)."""
    if largest <= 0:
        return [0.0, 1.0]
    raw = largest / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [step * index for index in range(math.ceil(largest / step - 1e-9) + 1)]


def _number(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if abs(value) >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def _rect(x: float, y: float, width: float, height: float, css: str, tooltip: str) -> str:
    return (
        f'<rect class="bar {css}" x="{x:.1f}" y="{y:.1f}" width="{max(width, 0):.1f}" '
        f'height="{max(height, 0):.1f}"><title>{html.escape(tooltip)}</title></rect>'
    )


def _text(x: float, y: float, content: str, anchor: str = "start") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{html.escape(content)}</text>'


def horizontal_svg(chart: Chart) -> str:
    """Bars left to right, one row per bar: for comparing a few named things."""
    label_width, plot_width, row_height, top = 220, 520, 26, 8
    ticks = nice_ticks(max((sum(bar.segments) for bar in chart.bars), default=0.0))
    scale = plot_width / ticks[-1]
    height = top + row_height * len(chart.bars) + 22
    parts = []
    for tick in ticks:
        x = label_width + tick * scale
        parts.append(
            f'<line class="axis" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 18}"/>'
        )
        parts.append(_text(x, height - 4, _number(tick), "middle"))
    for row, bar in enumerate(chart.bars):
        y = top + row * row_height
        parts.append(_text(label_width - 8, y + 16, _shorten(bar.label, 34), "end"))
        x = float(label_width)
        for value, css in zip(bar.segments, chart.segment_classes, strict=False):
            parts.append(_rect(x, y + 4, value * scale, row_height - 8, css, bar.tooltip))
            x += value * scale
    return _svg(chart, label_width + plot_width + 40, height, parts)


def vertical_svg(chart: Chart) -> str:
    """Bars bottom to top along a time axis: for counts per bucket."""
    left, plot_height, top, bottom = 48, 180, 10, 24
    slot = max(6.0, min(48.0, 640 / max(len(chart.bars), 1)))
    ticks = nice_ticks(max((sum(bar.segments) for bar in chart.bars), default=0.0))
    scale = plot_height / ticks[-1]
    width = left + slot * len(chart.bars) + 16
    parts = []
    for tick in ticks:
        y = top + plot_height - tick * scale
        parts.append(f'<line class="axis" x1="{left}" y1="{y:.1f}" x2="{width:.1f}" y2="{y:.1f}"/>')
        parts.append(_text(left - 6, y + 4, _number(tick), "end"))
    label_every = max(1, math.ceil(len(chart.bars) / 12))
    for index, bar in enumerate(chart.bars):
        x = left + index * slot + slot * 0.15
        y = float(top + plot_height)
        for value, css in zip(bar.segments, chart.segment_classes, strict=False):
            y -= value * scale
            parts.append(_rect(x, y, slot * 0.7, value * scale, css, bar.tooltip))
        if index % label_every == 0:
            parts.append(_text(x + slot * 0.35, top + plot_height + 16, bar.label, "middle"))
    return _svg(chart, max(width, 320), top + plot_height + bottom, parts)


def _svg(chart: Chart, width: float, height: float, parts: list[str]) -> str:
    label = html.escape(chart.title)
    return (
        f'<svg class="chart-svg" role="img" aria-label="{label}" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">' + "".join(parts) + "</svg>"
    )


def chart_figure(chart: Chart, draw: Callable[[Chart], str]) -> str:
    """A chart with its legend and caption, or a note when there is nothing to plot."""
    body = draw(chart) if chart.bars else '<p class="empty">no data in this window</p>'
    legend = "".join(
        f'<span><span class="swatch {css}"></span>{html.escape(name)}</span>'
        for name, css in zip(chart.legend, chart.segment_classes, strict=False)
    )
    return (
        f'<figure class="chart" id="chart-{chart.chart_id}">'
        f"{body}<div class='legend'>{legend}</div>"
        f"<figcaption>{html.escape(chart.caption)}</figcaption>"
        "</figure>"
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the four charts ----------------------------------------------------------


def runs_chart(rows: Sequence[RunsOverTimeRow], bucket: str) -> Chart:
    """Runs per bucket, failed ones on top; buckets without runs drawn empty, not skipped."""
    stamp = "%m-%d" if bucket == "day" else "%m-%d %H:00"
    bars = tuple(
        Bar(
            label=start.strftime(stamp),
            segments=(float(row.runs - row.failed_runs), float(row.failed_runs)) if row else (0, 0),
            tooltip=f"{start:%Y-%m-%d %H:%M} UTC: "
            + (f"{row.runs} runs, {row.failed_runs} failed" if row else "no runs"),
        )
        for start, row in _continuous(rows, BUCKET_WIDTH[bucket])
    )
    return Chart(
        "runs",
        "Runs over time",
        bars,
        ("runs without errors", "failed runs"),
        f"runs started per {bucket} (UTC)",
        ("seg-0", "seg-bad"),
    )


def _continuous(
    rows: Sequence[RunsOverTimeRow], width: timedelta
) -> list[tuple[datetime, RunsOverTimeRow | None]]:
    """Every bucket from the first to the last row, ``None`` where no run started."""
    if not rows:
        return []
    by_start = {row.bucket_start: row for row in rows}
    first, last = rows[0].bucket_start, rows[-1].bucket_start
    if (last - first) / width > MAX_TIME_BARS:
        return [(row.bucket_start, row) for row in rows]
    count = round((last - first) / width) + 1
    starts = [first + index * width for index in range(count)]
    return [(start, by_start.get(start)) for start in starts]


def tool_latency_chart(rows: Sequence[ToolRow]) -> Chart:
    bars = []
    for row in rows:
        p50, p95, p99 = row.p50_duration_ms, row.p95_duration_ms, row.p99_duration_ms
        if p50 is None or p95 is None or p99 is None:
            continue
        bars.append(
            Bar(
                row.tool,
                (p50, p95 - p50, p99 - p95),
                f"{row.tool}: p50 {cell(p50)} ms, p95 {cell(p95)} ms, p99 {cell(p99)} ms "
                f"over {row.calls} calls",
            )
        )
    return Chart(
        "tool-latency",
        "Tool latency distribution",
        tuple(bars),
        ("up to p50", "p50 to p95", "p95 to p99"),
        "tool call duration percentiles, milliseconds",
    )


def token_chart(rows: Sequence[ModelRow]) -> Chart:
    bars = tuple(
        Bar(
            row.model or "(model not reported)",
            (float(row.prompt_tokens), float(row.completion_tokens)),
            f"{row.model}: {row.prompt_tokens:,} prompt + {row.completion_tokens:,} completion "
            f"tokens over {row.llm_calls} calls",
        )
        for row in rows
    )
    return Chart(
        "tokens",
        "Token usage by model",
        bars,
        ("prompt tokens", "completion tokens"),
        "tokens reported by LLM responses, summed per model",
    )


def stable_prefix_chart(rows: Sequence[AcgRow]) -> Chart:
    bars = []
    for row in rows:
        blocks = row.stable_blocks + row.semi_stable_blocks + row.variable_blocks
        rest = max(blocks - row.stable_prefix_length, 0)
        bars.append(
            Bar(
                profile_label(row),
                (float(row.stable_prefix_length), float(rest)),
                f"{row.acg_key}: stable prefix {row.stable_prefix_length} of {blocks} blocks "
                f"over {row.total_observations} observations",
            )
        )
    return Chart(
        "stable-prefix",
        "Stable-prefix length per profile",
        tuple(bars),
        ("stable prefix (cacheable)", "other blocks"),
        "prompt blocks per profile; the stable prefix repeats exactly across its requests",
    )


def profile_label(row: AcgRow) -> str:
    """``model · system hash``: enough to tell profiles apart in a chart row."""
    parts = dict(part.partition("=")[::2] for part in row.acg_key.split("::") if "=" in part)
    model = parts.get("model")
    if model is None:
        return row.acg_key
    system = parts.get("system", "").rpartition(":")[2][:8]
    return f"{model} · {system}" if system else model


# -- tables and page ----------------------------------------------------------


def rows_html(table_id: str, model: type[AnalyticsRow], rows: Sequence[AnalyticsRow]) -> str:
    """An HTML table with one column per row field, numbers right-aligned."""
    names = field_names(model)
    head = "".join(f"<th>{html.escape(heading(name))}</th>" for name in names)
    body = "".join(
        "<tr>" + "".join(_td(getattr(row, name)) for name in names) + "</tr>" for row in rows
    )
    if not rows:
        body = f'<tr><td class="empty" colspan="{len(names)}">no rows in this window</td></tr>'
    return (
        f'<table class="data" id="table-{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _td(value: object) -> str:
    """A cell: numbers right-aligned, long text (ACG keys) wrapped, the rest on one line."""
    text = cell(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        css = ' class="num"'
    else:
        css = ' class="long"' if len(text) > LONG_TEXT else ""
    return f"<td{css}>{html.escape(text)}</td>"


def _cards(results: dict[str, Sequence[AnalyticsRow]]) -> str:
    runs = [row for row in results["runs"] if isinstance(row, RunsOverTimeRow)]
    models = [row for row in results["models"] if isinstance(row, ModelRow)]
    tools = [row for row in results["tools"] if isinstance(row, ToolRow)]
    figures = (
        ("runs", sum(row.runs for row in runs)),
        ("failed runs", sum(row.failed_runs for row in runs)),
        ("LLM calls", sum(row.llm_calls for row in models)),
        ("tool calls", sum(row.calls for row in tools)),
        ("tokens", sum(row.total_tokens for row in models)),
    )
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="value">{value:,}</div>'
            f'<div class="label">{html.escape(label)}</div></div>'
            for label, value in figures
        )
        + "</div>"
    )


def _charts(results: dict[str, Sequence[AnalyticsRow]], bucket: str) -> dict[str, str]:
    """The chart of each query that has one, as HTML."""
    runs = runs_chart([r for r in results["runs"] if isinstance(r, RunsOverTimeRow)], bucket)
    tools = tool_latency_chart([r for r in results["tools"] if isinstance(r, ToolRow)])
    tokens = token_chart([r for r in results["models"] if isinstance(r, ModelRow)])
    prefix = stable_prefix_chart([r for r in results["acg"] if isinstance(r, AcgRow)])
    return {
        "runs": chart_figure(runs, vertical_svg),
        "tools": chart_figure(tools, horizontal_svg),
        "models": chart_figure(tokens, horizontal_svg),
        "acg": chart_figure(prefix, horizontal_svg),
    }


def _describe_window(window: Window) -> str:
    agent = f"agent {window.agent_id}" if window.agent_id else "all agents"
    since = window.since.isoformat() if window.since else "the beginning"
    until = window.until.isoformat() if window.until else "now"
    return f"{agent}, runs from {since} until {until}"


def render_report(results: dict[str, Sequence[AnalyticsRow]], context: ReportContext) -> str:
    """The whole page: header, headline figures, then a section per query."""
    charts = _charts(results, context.bucket)
    sections = []
    for name, view in VIEWS.items():
        sections.append(
            f'<section id="section-{name}"><h2>{html.escape(view.title)}</h2>'
            f"{charts.get(name, '')}{rows_html(name, view.row_model(), results[name])}</section>"
        )
    meta = (
        f"{html.escape(context.source)} · {html.escape(_describe_window(context.window))} · "
        f"generated {context.generated_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>adaptive report</title><style>{CSS}</style></head><body>"
        f'<h1>adaptive report</h1><p class="meta">{meta}</p>'
        f"{_cards(results)}{''.join(sections)}</body></html>\n"
    )


async def _results(
    analytics: Analytics, window: Window
) -> tuple[dict[str, Sequence[AnalyticsRow]], str]:
    """All queries; runs by the day, or by the hour when there are only a few days."""
    results = await fetch_all(analytics, window)
    if len(results["runs"]) >= MIN_DAILY_BUCKETS:
        return results, "day"
    results["runs"] = await fetch_rows(analytics, "runs", window, bucket="hour")
    return results, "hour"


async def build_report(url: str, window: Window) -> str:
    """Query the run history at ``url`` and render the page."""
    async with Analytics.open(url) as analytics:
        results, bucket = await _results(analytics, window)
    context = ReportContext(display_url(url), window, bucket, datetime.now(UTC))
    return render_report(results, context)


def save_report(page: str, out: Path) -> None:
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as error:
        raise AdaptiveError(
            f"cannot write the report to {out}: {error.strerror or error}; "
            "choose a writable path with --out"
        ) from error
