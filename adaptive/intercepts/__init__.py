"""What the runtime gives back on the hot path: cohort gates (and, later, intercepts)."""

from adaptive.intercepts.cohort_gate import (
    WARM_FIRST_MAX_WAIT_S,
    CohortGate,
    CohortRole,
    LocalCohortGate,
    RedisCohortGate,
    cohort_key,
)

__all__ = [
    "WARM_FIRST_MAX_WAIT_S",
    "CohortGate",
    "CohortRole",
    "LocalCohortGate",
    "RedisCohortGate",
    "cohort_key",
]
