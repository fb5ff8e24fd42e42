"""Small PromptIR builders for the stability tests."""

from __future__ import annotations

import uuid

from adaptive.acg import BlockContentType, PromptBlock, PromptIR, PromptRole, ProvenanceLabel

CREATED_AT = 1_795_468_443_000_000_000


def block(
    span_id: str,
    sequence_index: int,
    content: str,
    role: PromptRole = PromptRole.SYSTEM,
    content_type: BlockContentType = BlockContentType.TEXT,
) -> PromptBlock:
    return PromptBlock(
        span_id=span_id,
        sequence_index=sequence_index,
        role=role,
        content=content,
        content_type=content_type,
        provenance=ProvenanceLabel.SYSTEM,
    )


def prompt(*blocks: PromptBlock, source_request_hash: str | None = None) -> PromptIR:
    return PromptIR(
        ir_id=uuid.uuid4(),
        blocks=list(blocks),
        source_request_hash=source_request_hash,
        created_at=CREATED_AT,
    )
