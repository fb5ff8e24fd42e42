"""Learned execution plans, metadata envelopes and agent hints."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field

from adaptive.wire import WireModel


class ParallelHint(WireModel):
    """One tool's membership in a parallel group."""

    tool_name: str
    group_id: str
    explicit: bool


class MetadataEnvelope(WireModel):
    """Metadata template carried by a plan: hints plus free-form extensions."""

    run_id: UUID
    agent_id: str
    parallel_hints: list[ParallelHint] = Field(default_factory=list)
    extensions: Any = Field(default_factory=dict)


class ParallelGroup(WireModel):
    """Tools observed running at the same time."""

    group_id: str
    tool_names: list[str]


class ExecutionPlan(WireModel):
    """What the tool-parallelism learner knows about an agent's fan-outs."""

    agent_id: str
    parallel_groups: list[ParallelGroup] = Field(default_factory=list)
    metadata_template: MetadataEnvelope


class AgentHints(WireModel):
    """Hints attached to LLM requests (NeMo Relay's ``AgentHints``)."""

    osl: int
    iat: int
    priority: int
    latency_sensitivity: float
    prefix_id: str
    total_requests: int
