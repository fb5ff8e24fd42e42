"""The stream entry: one completed run, as NeMo Relay's wire JSON.

An entry has three fields::

    v      "1"                       the entry format (a reader refuses others)
    agent  the run's agent id        for routing and metrics without parsing the run
    run    RunRecord wire JSON       exactly what NeMo Relay stores under runs:{agent}:{id}

One run per entry, so that acknowledging, claiming and dead-lettering act on
one run, and a run that cannot be learned holds up nothing else. A dead
letter is the original entry plus ``reason``, ``entry_id``, ``deliveries``
and ``consumer``.
"""

from __future__ import annotations

from typing import Final

from pydantic import ValidationError

from adaptive.errors import AdaptiveError, one_line
from adaptive.records import RunRecord

FORMAT: Final = b"1"
VERSION_FIELD: Final = b"v"
AGENT_FIELD: Final = b"agent"
RUN_FIELD: Final = b"run"

Fields = dict[bytes, bytes]


class UndecodableEntryError(AdaptiveError):
    """A stream entry that is not a run this version can read; it never will be."""


def encode(run: RunRecord) -> Fields:
    """The entry for one completed run."""
    return {
        VERSION_FIELD: FORMAT,
        AGENT_FIELD: run.agent_id.encode(),
        RUN_FIELD: run.to_wire_json().encode(),
    }


def decode(fields: Fields) -> RunRecord:
    """The run an entry holds; ``UndecodableEntryError`` says why it holds none."""
    version = fields.get(VERSION_FIELD)
    if version != FORMAT:
        raise UndecodableEntryError(
            f"entry format {version!r} is not {FORMAT.decode()!r} (published by another "
            "version of adaptive? upgrade the workers)"
        )
    payload = fields.get(RUN_FIELD)
    if payload is None:
        raise UndecodableEntryError("entry has no 'run' field")
    try:
        run = RunRecord.model_validate_json(payload)
    except ValidationError as error:
        raise UndecodableEntryError(f"'run' is not a run record: {one_line(error)}") from error
    agent = fields.get(AGENT_FIELD)
    if agent is not None and agent != run.agent_id.encode():
        raise UndecodableEntryError("'agent' does not match the run's agent_id")
    return run


def agent_of(fields: Fields) -> str | None:
    """The agent an entry names, if it names one that decodes."""
    agent = fields.get(AGENT_FIELD)
    try:
        return agent.decode() if agent is not None else None
    except UnicodeDecodeError:
        return None
