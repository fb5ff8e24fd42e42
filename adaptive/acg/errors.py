"""Errors raised by the Adaptive Cache Governor (ACG) analysis.

Both are ``ValueError``s: they describe input that NeMo Relay would have
rejected while decoding or serializing it, and the learner skips such
requests instead of failing the whole batch.
"""

from __future__ import annotations


class CanonicalizationError(ValueError):
    """A value has no RFC 8785 form (NaN, infinity, lone surrogate, non-string key)."""


class PromptIRError(ValueError):
    """An annotated request that cannot be turned into a prompt IR."""
