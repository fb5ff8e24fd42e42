"""Large traces for storage tests: the sample replicated, and split by run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adaptive.events.replicate import replicated_events
from tests.factories import SAMPLE_TRACE


def replicated_trace(copies: int) -> list[dict[str, Any]]:
    """``copies`` copies of the sample's 40 runs, with fresh uuids."""
    return list(replicated_events(SAMPLE_TRACE, copies))


def run_roots(events: list[dict[str, Any]]) -> list[str]:
    """The agent-scope uuid each event belongs to (its run), following parent links."""
    root_of: dict[str, str] = {}
    roots: list[str] = []
    for event in events:
        if event["category"] == "agent":
            root = event["uuid"]
        else:
            root = root_of.get(event["uuid"]) or root_of[event["parent_uuid"]]
        root_of[event["uuid"]] = root
        roots.append(root)
    return roots


def split_by_run(events: list[dict[str, Any]], parts: int) -> list[list[dict[str, Any]]]:
    """``parts`` disjoint traces, runs dealt round-robin, events kept in order."""
    roots = run_roots(events)
    order: dict[str, int] = {}
    for root in roots:
        order.setdefault(root, len(order))
    split: list[list[dict[str, Any]]] = [[] for _ in range(parts)]
    for event, root in zip(events, roots, strict=True):
        split[order[root] % parts].append(event)
    return split


def write_trace(events: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def write_split_trace(
    events: list[dict[str, Any]], parts: int, directory: Path
) -> tuple[Path, list[Path]]:
    """The whole trace and its ``parts`` disjoint run-split slices, as files."""
    whole = write_trace(events, directory / "whole.jsonl")
    slices = [
        write_trace(part, directory / f"part{index}.jsonl")
        for index, part in enumerate(split_by_run(events, parts))
    ]
    return whole, slices
