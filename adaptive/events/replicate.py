"""Replicate an ATOF trace with fresh uuids and shifted timestamps.

Benchmarks and tests need large traces with the statistics of a real one.
Each copy gets new scope uuids (so every run is new to storage), a distinct
last user message in every LLM request (so no two prompts are identical, as
in real traffic), and is shifted by the source's time span plus one second,
so copies follow each other like later batches of the same workload.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adaptive.timestamps import format_rfc3339_ns, parse_rfc3339_ns

UUID_FIELDS = ("uuid", "parent_uuid", "propagation_root_uuid")


def _span_ns(events: list[dict[str, Any]]) -> int:
    stamps = [parse_rfc3339_ns(event["timestamp"]) for event in events]
    return max(stamps) - min(stamps) + 1_000_000_000


def _vary_last_user_message(event: dict[str, Any], copy: int) -> None:
    profile = event.get("category_profile")
    if not isinstance(profile, dict) or copy == 0:
        return
    request = profile.get("annotated_request")
    if not isinstance(request, dict):
        return
    messages = [dict(message) for message in request.get("messages", [])]
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            message["content"] = f"{message['content']} (copy {copy})"
            break
    event["category_profile"] = {**profile, "annotated_request": {**request, "messages": messages}}


def _copy_event(
    event: dict[str, Any], mapping: dict[str, str], shift_ns: int, copy: int
) -> dict[str, Any]:
    copied = dict(event)
    _vary_last_user_message(copied, copy)
    for field in UUID_FIELDS:
        value = copied.get(field)
        if isinstance(value, str):
            copied[field] = mapping.setdefault(value, str(uuid.uuid4()))
    stamp = parse_rfc3339_ns(copied["timestamp"]) + shift_ns
    copied["timestamp"] = format_rfc3339_ns(stamp, zulu=False)
    return copied


def replicated_events(source: Path, copies: int) -> Iterator[dict[str, Any]]:
    """The events of ``copies`` copies of ``source``, one copy after another."""
    events = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    span = _span_ns(events)
    for copy in range(copies):
        mapping: dict[str, str] = {}
        for event in events:
            yield _copy_event(event, mapping, copy * span, copy)


def replicate(source: Path, target: Path, min_events: int) -> int:
    """Write copies of ``source`` to ``target`` until at least ``min_events`` are written."""
    per_copy = sum(1 for line in source.read_text().splitlines() if line.strip())
    copies = max(1, -(-min_events // per_copy))
    written = 0
    with target.open("w") as out:
        for event in replicated_events(source, copies):
            out.write(json.dumps(event) + "\n")
            written += 1
    return written
