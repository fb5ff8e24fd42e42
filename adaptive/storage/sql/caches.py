"""Decoded state kept between units of work, so unchanged documents are not re-read.

Every unit of work loads the same few documents again: the agent's
accumulators (tens of kB of JSON, milliseconds to transfer and decode) and
the windows the ACG learner touches (up to 100 observations each). Those
rarely change between two units of the same process, and when they do the
database says so cheaply:

* an observation never changes once written (its ``ir_id`` is a fresh uuid4),
  so a window is read as ids and only unseen observations are fetched;
* a learner-state row is identified by ``(version, updated_at)``: a unit
  fetches the payload only when the row differs from the cached copy.

Cached objects are shared, never copied: like every backend's loaded state
they are read-only (learners build new objects instead of editing them).
Only state that was committed goes in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from uuid import UUID

from adaptive.acg import PromptIR
from adaptive.storage.lru import LruCache

OBSERVATIONS_CAPACITY: Final = 4096
LEARNER_STATE_CAPACITY: Final = 256


@dataclass(frozen=True)
class StoredState:
    """A decoded learner-state document and the row stamp it was read or written at."""

    version: int
    updated_at: datetime
    state: object


@dataclass
class DecodedCaches:
    """The caches one backend shares between its units of work and reads."""

    observations: LruCache[UUID, PromptIR] = field(
        default_factory=lambda: LruCache(OBSERVATIONS_CAPACITY)
    )
    learner_state: LruCache[tuple[str, str], StoredState] = field(
        default_factory=lambda: LruCache(LEARNER_STATE_CAPACITY)
    )
