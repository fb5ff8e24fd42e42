"""Anthropic prompt caching: ``cache_control`` breakpoints on the learned stable prefix.

For an Anthropic Messages request whose prefix matches what was learned,
NeMo Relay 0.10.4 (``acg.provider = "anthropic"``):

1. rewrites every tool schema as RFC 8785 canonical JSON parsed back
   (sorted keys, ``1.0`` becomes ``1``), so the tool block bytes never vary;
2. plans breakpoints with the economics planner for the model's family
   (``capabilities``): none when the family is unknown, the prefix is below
   the family's minimum cacheable size (UTF-8 bytes / 4 per block), or the
   reads expected so far do not pay for the cache write; at most 4;
3. puts ``"cache_control": {"type": "ephemeral"}`` after each planned
   boundary: on the tool, on the last ``system`` block (a string system
   prompt becomes a one-block array), or on the message's last content
   block (a string content becomes a one-block array).

The cache lives 5 minutes (Anthropic's default; no ``ttl`` is written).
NeMo Relay 0.10.4 has the 1-hour translation but no configuration reaches
it; ``AnthropicCacheProvider(ttl="1h")`` applies it as NeMo Relay's code
does: ``"ttl": "1h"`` on every ``cache_control`` in system, messages and tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from adaptive.acg.prompt_ir import BlockContentType, PromptRole
from adaptive.acg.providers.base import (
    BodyEditor,
    CacheProvider,
    RewriteContext,
)
from adaptive.acg.providers.capabilities import ModelFamily, anthropic_model_family
from adaptive.acg.providers.codec_fields import JsonObject
from adaptive.acg.providers.economics import plan_breakpoints
from adaptive.acg.providers.memo import BoundedMemo
from adaptive.acg.providers.prefix import BlockSpec
from adaptive.acg.providers.request_view import RequestSurface
from adaptive.acg.stability import StabilityAnalysisResult

AnthropicTtl = Literal["5m", "1h"]
EPHEMERAL = {"type": "ephemeral"}
_DEFAULT_MAX_BREAKPOINTS = 4
_DEFAULT_MIN_TOKENS = 1024
_TOOL_SCHEMA = BlockContentType.TOOL_SCHEMA.value
_SYSTEM = PromptRole.SYSTEM.value

_PlanKey = tuple[int, int, str, tuple[BlockSpec, ...]]
_Targets = tuple[int, ...] | None
_Mark = tuple[str, int]
"""Where one breakpoint goes: ("tool", tool index), ("system", 0) or ("message", index)."""


class AnthropicCacheProvider(CacheProvider):
    """``acg.provider = "anthropic"``: explicit breakpoints on Anthropic Messages requests."""

    name: ClassVar[str] = "anthropic"
    surfaces: ClassVar[frozenset[RequestSurface]] = frozenset({RequestSurface.ANTHROPIC_MESSAGES})

    def __init__(self, ttl: AnthropicTtl = "5m") -> None:
        super().__init__()
        self.ttl = ttl
        self._plans: BoundedMemo[_PlanKey, _Plan] = BoundedMemo()

    def edit(self, context: RewriteContext) -> JsonObject | None:
        model = context.request.model
        family = None if model is None else anthropic_model_family(model)
        if model is None or family is None:
            return None
        plan = self._plan(context, family)
        if plan.targets is None:
            return None
        editor = BodyEditor(context.body)
        tools = self.relay_tools.of(context.request.tools, context.body.get("tools"))
        if tools is not None:
            editor.replace("tools", tools, owned=True)
        for kind, index in plan.marks:
            _mark(editor, kind, index)
        if self.ttl == "1h":
            _apply_one_hour_ttl(editor)
        return editor.body

    def breakpoint_targets(self, context: RewriteContext, family: ModelFamily) -> _Targets:
        """Prefix block indices that get a breakpoint; None when nothing is worth caching.

        An empty tuple still canonicalizes the tools, as NeMo Relay's hint
        plan always starts with that directive.
        """
        return self._plan(context, family).targets

    def _plan(self, context: RewriteContext, family: ModelFamily) -> _Plan:
        """The targets and where each lands in the body, once per learned result and prefix.

        A learned result is replaced in the hot cache, never mutated; the
        entry holds it, so its id is not reused while the entry lives.
        """
        stability = context.learned.stability
        count = context.learned.observation_count
        key = (id(stability), count, family.name, context.blocks)
        cached = self._plans.get(key)
        if cached is not None and cached.stability is stability:
            return cached
        targets = _translate(context, family)
        marks = () if targets is None else tuple(_mark_of(context.blocks, i) for i in targets)
        return self._plans.put(key, _Plan(stability, targets, marks))


@dataclass(frozen=True, slots=True)
class _Plan:
    stability: StabilityAnalysisResult
    targets: _Targets
    marks: tuple[_Mark, ...]


def _translate(context: RewriteContext, family: ModelFamily) -> _Targets:
    """Planned breakpoints that pass the translator's own limit and size checks."""
    stability = context.learned.stability
    blocks = context.blocks
    planned = plan_breakpoints(
        blocks,
        stability.scores,
        stability.stable_prefix_length,
        context.learned.observation_count,
        family,
    )
    if not planned:
        return None
    max_breakpoints, min_tokens = _translator_limits(context.body.get("model"))
    targets: list[int] = []
    for breakpoint_ in planned:
        if len(targets) >= max_breakpoints:
            break
        end = min(breakpoint_.stable_prefix_end, len(blocks))
        if sum(block.tokens for block in blocks[:end]) < min_tokens:
            continue
        targets.append(end - 1)
    return tuple(targets)


def _translator_limits(model: Any) -> tuple[int, int]:
    """The translator reads the raw ``model`` again and falls back to 4 breakpoints / 1024."""
    family = anthropic_model_family(model) if isinstance(model, str) else None
    if family is None:
        return _DEFAULT_MAX_BREAKPOINTS, _DEFAULT_MIN_TOKENS
    return family.max_cache_breakpoints, family.min_cacheable_tokens


def _mark_of(blocks: tuple[BlockSpec, ...], index: int) -> _Mark:
    """Where NeMo Relay puts the breakpoint of prefix block ``index``.

    A tool block marks the n-th tool; a system block, the system prompt; any
    other block the message found by counting the blocks that are neither.
    """
    spec = blocks[index]
    if spec.content_type == _TOOL_SCHEMA:
        tool_index = sum(1 for block in blocks[: index + 1] if block.content_type == _TOOL_SCHEMA)
        return ("tool", tool_index - 1)
    if spec.role == _SYSTEM:
        return ("system", 0)
    counted = sum(
        1
        for block in blocks[: index + 1]
        if block.content_type != _TOOL_SCHEMA and block.role != _SYSTEM
    )
    return ("message", max(counted - 1, 0))


def _mark(editor: BodyEditor, kind: str, index: int) -> None:
    if kind == "tool":
        tool = editor.own_item("tools", index)
        if tool is not None:
            tool["cache_control"] = dict(EPHEMERAL)
    elif kind == "system":
        _inject_system(editor)
    else:
        _inject_message(editor, index)


def _text_block(text: str) -> JsonObject:
    return {"type": "text", "text": text, "cache_control": dict(EPHEMERAL)}


def _inject_system(editor: BodyEditor) -> None:
    system = editor.body.get("system")
    if isinstance(system, str):
        editor.replace("system", [_text_block(system)])
        return
    blocks = editor.own_list("system")
    if blocks and isinstance(blocks[-1], dict):
        blocks[-1] = {**blocks[-1], "cache_control": dict(EPHEMERAL)}


def _inject_message(editor: BodyEditor, message_index: int) -> None:
    message = editor.own_item("messages", message_index)
    if message is None:
        return
    content = message.get("content")
    if isinstance(content, str):
        message["content"] = [_text_block(content)]
    elif isinstance(content, list | tuple) and content and isinstance(content[-1], dict):
        message["content"] = [*content[:-1], {**content[-1], "cache_control": dict(EPHEMERAL)}]
    else:
        message["cache_control"] = dict(EPHEMERAL)


def _apply_one_hour_ttl(editor: BodyEditor) -> None:
    for key in ("system", "tools"):
        if key in editor.body:
            editor.replace(key, _with_ttl(editor.body[key]))
    messages = editor.body.get("messages")
    if isinstance(messages, list | tuple):
        editor.replace("messages", [_with_ttl(message) for message in messages])


def _with_ttl(value: Any) -> Any:
    """``value`` with ``"ttl": "1h"`` in every ``cache_control`` object; unchanged parts shared."""
    if isinstance(value, dict):
        updated = {key: _with_ttl(item) for key, item in value.items()}
        control = updated.get("cache_control")
        if isinstance(control, dict):
            updated["cache_control"] = {**control, "ttl": "1h"}
        changed = any(updated[key] is not value[key] for key in value)
        return updated if changed else value
    if isinstance(value, list | tuple):
        items = [_with_ttl(item) for item in value]
        return (
            items if any(new is not old for new, old in zip(items, value, strict=True)) else value
        )
    return value
