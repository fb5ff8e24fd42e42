"""Terminal renderings of stored runs and learned state.

``adaptive plan show``, ``hints show``, ``runs show`` and the demo print the
same objects; rendering them here keeps the command and the demo identical.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from adaptive.cli import inspection
from adaptive.cli.tabular import rows_table
from adaptive.intercepts.warm_first import WarmFirstVerdict
from adaptive.plan import ExecutionPlan
from adaptive.records import RunRecord


def plan_renderable(
    agent_id: str,
    plan: ExecutionPlan | None,
    verdicts: list[WarmFirstVerdict] | None = None,
    mode: str | None = None,
) -> RenderableType:
    """The learned groups; with ``verdicts``, whether warm-first gates each and why (not)."""
    if plan is None:
        return f"no plan learned for {agent_id} yet (no run had tools running in parallel)"
    groups = inspection.plan_groups(plan)
    table = rows_table(inspection.ParallelGroupRow, groups, f"parallel tool groups of {agent_id}")
    if verdicts is None:
        return table
    title = "warm-first scheduling (tool_parallelism.mode = schedule) per group"
    parts: list[RenderableType] = [
        table,
        rows_table(inspection.WarmFirstRow, inspection.warm_first_rows(verdicts), title),
    ]
    if mode is not None and mode != "schedule":
        parts.append(
            Text(f"tool_parallelism.mode is {mode} here: warm-first gates only in schedule mode")
        )
    return Group(*parts)


def hints_renderable(view: inspection.HintsView) -> RenderableType:
    parts: list[RenderableType] = []
    if view.default_hints is None:
        parts.append(f"no hints learned for {view.agent_id} yet (no completed LLM calls)")
    else:
        hints = view.default_hints
        parts.append(rows_table(type(hints), [hints], f"default agent hints of {view.agent_id}"))
        parts.append(
            rows_table(inspection.PredictionRow, view.predictions, "trie predictions by path")
        )
    if view.lookup is not None:
        lookup = view.lookup
        found = [] if lookup.prediction is None else [lookup.prediction]
        title = f"trie lookup: path {lookup.path}, call index {lookup.call_index}"
        parts.append(rows_table(inspection.PredictionRow, found, title))
    return Group(*parts)


def stability_renderable(
    agent_id: str, rows: list[inspection.ProfileStabilityRow]
) -> RenderableType:
    if not rows:
        return f"no prompt-cache stability learned for {agent_id} yet (no annotated LLM requests)"
    title = f"prompt-cache (ACG) stability per profile of {agent_id}"
    return rows_table(inspection.ProfileStabilityRow, rows, title)


def run_renderable(run: RunRecord) -> RenderableType:
    summary = inspection.summarize_run(run)
    return Group(
        rows_table(inspection.RunSummary, [summary], f"run of {run.agent_id}"),
        rows_table(inspection.CallRow, inspection.call_rows(run), "calls"),
    )
