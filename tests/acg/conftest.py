"""The reference sample's fixtures, for the parity tests in this folder."""

from tests.reference import (  # noqa: F401  (fixtures are found by name)
    sample_accumulators,
    sample_requests,
    sample_runs,
    sample_state,
    sample_trie,
)
