"""PromptIR JSON must match NeMo Relay's serde form field for field."""

from __future__ import annotations

from typing import Any

from adaptive.acg import PromptBlock, PromptIR, TokenizationMetadata

IR_ID = "df40a538-e056-48a5-81ca-a61c92f8febf"
CREATED_AT = "2026-11-23T21:14:03.534523775Z"


def _block(**overrides: Any) -> dict[str, Any]:
    block: dict[str, Any] = {
        "span_id": "user-1",
        "sequence_index": 1,
        "role": "user",
        "content": "Notes 0",
        "content_type": "text",
        "provenance": "user",
        "sensitivity": "public",
    }
    block.update(overrides)
    return block


def test_unset_optionals_are_omitted_not_null() -> None:
    ir = PromptIR.model_validate({"ir_id": IR_ID, "blocks": [_block()], "created_at": CREATED_AT})
    assert ir.to_wire() == {"ir_id": IR_ID, "blocks": [_block()], "created_at": CREATED_AT}


def test_set_optionals_and_nanosecond_timestamp_survive_a_round_trip() -> None:
    wire = {
        "ir_id": IR_ID,
        "blocks": [_block(token_metadata={"model_family": "gpt", "token_count": 12})],
        "tool_schema_hashes": [{"tool_name": "search", "schema_hash": "sha256:00"}],
        "structured_output_schema_id": "sha256:11",
        "source_request_hash": "sha256:22",
        "created_at": CREATED_AT,
    }
    ir = PromptIR.model_validate(wire)
    assert ir.blocks[0].token_metadata == TokenizationMetadata(model_family="gpt", token_count=12)
    assert ir.to_wire() == wire
    assert list(ir.to_wire()) == list(wire)  # Rust declaration order


def test_sensitivity_defaults_to_public_when_missing() -> None:
    raw = _block()
    del raw["sensitivity"]
    assert PromptBlock.model_validate(raw).to_wire() == _block()


def test_enums_use_snake_case_strings() -> None:
    block = PromptBlock.model_validate(
        _block(content_type="structured_output", provenance="retrieval", sensitivity="restricted")
    )
    wire = block.to_wire()
    assert (wire["content_type"], wire["provenance"], wire["sensitivity"]) == (
        "structured_output",
        "retrieval",
        "restricted",
    )


def test_fields_from_newer_versions_are_kept() -> None:
    wire = {"ir_id": IR_ID, "blocks": [], "created_at": CREATED_AT, "future_field": [1]}
    assert PromptIR.model_validate(wire).to_wire() == wire
