"""Warnings that repeat: the first of each cause in full, the rest counted.

Hostile or broken input repeats the same problem thousands of times (a
flood of agent starts that never end, a backend rejecting every run). One
line per occurrence buries everything else and costs time; one line per
cause, plus its count, tells the operator the same.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Final

REPEAT_INTERVAL_S: Final = 60.0
"""A cause that keeps happening is reported again at most this often, with its count."""


class CountedWarnings:
    """Logs the first warning of each cause, counts the rest, and reports the counts.

    A long-running process hears of a cause that keeps happening once per
    ``interval_s`` (with how often it happened since); ``summarize()`` logs
    one line per cause whose repeats were not reported yet.
    """

    def __init__(self, logger: logging.Logger, *, interval_s: float = REPEAT_INTERVAL_S) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.counts: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        self._last_logged: dict[str, float] = {}

    def warn(self, cause: str, message: str, *args: Any, exc_info: bool = False) -> None:
        """Count one occurrence of ``cause``; log ``message`` if it is the first in a while."""
        self.counts[cause] += 1
        now = time.monotonic()
        last = self._last_logged.get(cause)
        if last is None:
            self._last_logged[cause] = now
            self.logger.warning(message, *args, exc_info=exc_info)
            return
        self._unreported[cause] += 1
        if now - last >= self.interval_s:
            self._report(cause, now)

    def summarize(self) -> None:
        """One line per cause with repeats not reported yet (at the end of an ingest, on close)."""
        now = time.monotonic()
        for cause in sorted(self._unreported):
            self._report(cause, now)

    def _report(self, cause: str, now: float) -> None:
        repeats = self._unreported.pop(cause, 0)
        if repeats:
            self._last_logged[cause] = now
            self.logger.warning(
                "%s: %d more time(s) since it was last logged (%d in all)",
                cause,
                repeats,
                self.counts[cause],
            )
