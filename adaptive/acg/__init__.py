"""Adaptive Cache Governor (ACG) prompt analysis.

Turns annotated LLM requests into prompt IR, groups them by learning key,
and measures which prompt blocks stay stable, so a cache-aware runtime knows
which prefix is worth caching. Wire-compatible with NeMo Relay's ``acg``.
"""

from adaptive.acg.canonical import canonical_json, normalize_whitespace, sha256_hex
from adaptive.acg.errors import CanonicalizationError, PromptIRError
from adaptive.acg.ir_builder import build_prompt_ir
from adaptive.acg.profile import derive_learning_key
from adaptive.acg.prompt_ir import (
    BlockContentType,
    PromptBlock,
    PromptIR,
    PromptRole,
    ProvenanceLabel,
    SensitivityLabel,
    TokenizationMetadata,
    ToolSchemaHash,
)
from adaptive.acg.stability import (
    BlockStabilityScore,
    StabilityAnalysisResult,
    StabilityClass,
    StabilityThresholds,
    analyze_profile_stability,
    analyze_stability,
    dominant_prefix_length,
    dominant_profile_prefix_fingerprint,
    profile_prefix_fingerprint,
    prompt_prefix_fingerprint,
)
from adaptive.acg.stability_window import StabilityWindow

__all__ = [
    "BlockContentType",
    "BlockStabilityScore",
    "CanonicalizationError",
    "PromptBlock",
    "PromptIR",
    "PromptIRError",
    "PromptRole",
    "ProvenanceLabel",
    "SensitivityLabel",
    "StabilityAnalysisResult",
    "StabilityClass",
    "StabilityThresholds",
    "StabilityWindow",
    "TokenizationMetadata",
    "ToolSchemaHash",
    "analyze_profile_stability",
    "analyze_stability",
    "build_prompt_ir",
    "canonical_json",
    "derive_learning_key",
    "dominant_prefix_length",
    "dominant_profile_prefix_fingerprint",
    "normalize_whitespace",
    "profile_prefix_fingerprint",
    "prompt_prefix_fingerprint",
    "sha256_hex",
]
