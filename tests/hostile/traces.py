"""Hostile traces, generated from the NeMo Relay sample: each breaks one thing on purpose."""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.factories import SAMPLE_TRACE

Event = dict[str, Any]
NUL = "\u0000"


def sample_events() -> list[Event]:
    return [json.loads(line) for line in SAMPLE_TRACE.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, events: list[Event]) -> Path:
    """One JSON object a line, with NaN/Infinity written as JSON-ish literals where present."""
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def edited(change: Callable[[Event], None]) -> list[Event]:
    events = sample_events()
    for event in events:
        change(event)
    return events


def with_nul_in_prompts(event: Event) -> None:
    """A NUL inside every LLM prompt's last message."""
    request = (event.get("category_profile") or {}).get("annotated_request")
    if isinstance(request, dict):
        for message in request.get("messages", [])[-1:]:
            if isinstance(message.get("content"), str):
                message["content"] += f" and a NUL{NUL}inside"


def with_nul_in_names(event: Event) -> None:
    """A NUL in the agent scope's name (the agent id, when none is given) and a tool's name."""
    if event.get("category") == "agent":
        event["name"] = f"plan{NUL}ner"
    elif event.get("category") == "tool" and event.get("name") == "search":
        event["name"] = f"sea{NUL}rch"


BAD_TOKEN_COUNTS = [float("inf"), float("nan"), "1e999", 1e308, -5, 12.5, 2**64]
"""What an exporter bug or a hostile client puts in ``usage``; none is a token count."""


def with_bad_token_counts(events: list[Event]) -> list[Event]:
    """The first LLM ends get one bad ``total_tokens`` each (``"1e999"`` is written raw)."""
    bad = iter(BAD_TOKEN_COUNTS)
    for event in events:
        response = (event.get("category_profile") or {}).get("annotated_response")
        if isinstance(response, dict) and isinstance(response.get("usage"), dict):
            value = next(bad, None)
            if value is None:
                break
            response["usage"]["total_tokens"] = value
    return events


def write_with_raw_numbers(path: Path, events: list[Event]) -> Path:
    """JSONL where the string ``"1e999"`` becomes the bare literal 1e999 (json.dumps cannot)."""
    lines = (json.dumps(event).replace('"1e999"', "1e999") for event in events)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def with_hostile_agent_id(agent_id: str) -> Callable[[Event], None]:
    def change(event: Event) -> None:
        if event.get("category") == "agent":
            event["name"] = agent_id

    return change


def never_ending_starts(count: int, seed: int = 11) -> Iterator[Event]:
    """Agent starts whose end never comes (a crashed agent, a lost tail of a trace)."""
    rng = random.Random(seed)
    template = sample_events()[0]
    for _ in range(count):
        start = dict(template)
        start["uuid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        start["parent_uuid"] = start["uuid"]
        yield start


def flooded(count: int) -> list[Event]:
    """The sample with ``count`` never-ending agent starts spread through it.

    The starts come between the sample's events, never between a run's start
    and end in a way that outnumbers ``max_open_runs``: the sample's own runs
    must still complete.
    """
    events = sample_events()
    flood = list(never_ending_starts(count))
    per_gap = count // len(events) + 1
    mixed: list[Event] = []
    for event in events:
        mixed.extend(flood[:per_gap])
        del flood[:per_gap]
        mixed.append(event)
    return mixed + flood


def gzipped(source: Path, path: Path) -> Path:
    path.write_bytes(gzip.compress(source.read_bytes()))
    return path


def random_bytes(path: Path, size: int = 200_000, seed: int = 5) -> Path:
    path.write_bytes(random.Random(seed).randbytes(size))
    return path
