"""Replicate an ATOF trace with fresh uuids and shifted timestamps.

Each copy gets new scope uuids (so every run is new to storage), a distinct
last user message in every LLM request (so no two prompts are identical, as
in real traffic), and is shifted by the source's time span plus one second,
so copies follow each other like later batches of the same workload.

    python -m benchmarks.replicate SRC DST --events 50000
"""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path
from typing import Any

from adaptive.timestamps import format_rfc3339_ns, parse_rfc3339_ns

UUID_FIELDS = ("uuid", "parent_uuid", "propagation_root_uuid")


def _span_ns(lines: list[dict[str, Any]]) -> int:
    stamps = [parse_rfc3339_ns(event["timestamp"]) for event in lines]
    return max(stamps) - min(stamps) + 1_000_000_000


def _vary_last_user_message(event: dict[str, Any], copy: int) -> None:
    """Make each copy's prompts unique, as real traffic is: only the question changes."""
    profile = event.get("category_profile")
    request = profile.get("annotated_request") if isinstance(profile, dict) else None
    if not isinstance(request, dict) or copy == 0:
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


def replicate(source: Path, target: Path, min_events: int) -> int:
    """Write copies of ``source`` to ``target`` until ``min_events`` are written."""
    events = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    span = _span_ns(events)
    written = 0
    with target.open("w") as out:
        copy = 0
        while written < min_events:
            mapping: dict[str, str] = {}
            for event in events:
                out.write(json.dumps(_copy_event(event, mapping, copy * span, copy)) + "\n")
            written += len(events)
            copy += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    print(f"wrote {replicate(args.source, args.target, args.events)} events to {args.target}")


if __name__ == "__main__":
    main()
