"""OpenAI automatic prefix caching: byte-stable tool schemas and stable-prefix content.

OpenAI caches the longest previously seen prompt prefix by itself, so there
is nothing to mark; what breaks hits is a prefix whose bytes drift (key
order, ``1.0`` versus ``1``). For a Chat Completions or Responses request
whose prefix matches what was learned, NeMo Relay 0.10.4
(``acg.provider = "openai"``) rewrites every tool schema as RFC 8785 JSON
parsed back, and does the same to every non-text content part of the
messages (``input`` items) that hold the stable prefix's blocks. Text parts,
message order and all other members are left alone. There is no minimum
size and no economics: two observations and a matching prefix suffice.

Messages are found by counting prompt-IR blocks, as NeMo Relay does; a
message that yields several blocks (an assistant turn with tool calls)
shifts the count, and the same message is then chosen as NeMo Relay chooses.
"""

from __future__ import annotations

from typing import Any, ClassVar

from adaptive.acg.prompt_ir import BlockContentType, PromptRole
from adaptive.acg.providers.base import (
    BodyEditor,
    CacheProvider,
    RewriteContext,
)
from adaptive.acg.providers.codec_fields import JsonObject
from adaptive.acg.providers.memo import BoundedMemo
from adaptive.acg.providers.prefix import BlockSpec
from adaptive.acg.providers.relay_json import canonical_reparse
from adaptive.acg.providers.request_view import RequestSurface

_TOOL_SCHEMA = BlockContentType.TOOL_SCHEMA.value
_SYSTEM = PromptRole.SYSTEM.value


class OpenAICacheProvider(CacheProvider):
    """``acg.provider = "openai"``: canonical tools and prefix content for Chat and Responses."""

    name: ClassVar[str] = "openai"
    surfaces: ClassVar[frozenset[RequestSurface]] = frozenset(
        {RequestSurface.OPENAI_CHAT, RequestSurface.OPENAI_RESPONSES}
    )

    def __init__(self) -> None:
        super().__init__()
        self._indices: BoundedMemo[tuple[tuple[BlockSpec, ...], int, bool], range] = BoundedMemo()

    def edit(self, context: RewriteContext) -> JsonObject | None:
        editor = BodyEditor(context.body)
        tools = self.relay_tools.of(context.request.tools, context.body.get("tools"))
        if tools is not None:
            editor.replace("tools", tools, owned=True)
        chat = context.request.surface is RequestSurface.OPENAI_CHAT
        indices = self._message_indices(context, include_system=chat)
        _canonicalize_messages(editor, "messages" if chat else "input", indices)
        return editor.body

    def _message_indices(self, context: RewriteContext, *, include_system: bool) -> range:
        """``_message_indices``, once per prefix (its specs are compared by identity)."""
        key = (context.blocks, context.prefix_length, include_system)
        indices = self._indices.get(key)
        if indices is None:
            indices = self._indices.put(key, _message_indices(context, include_system))
        return indices


def _message_indices(context: RewriteContext, include_system: bool) -> range:
    """Raw message positions NeMo Relay touches for the stable prefix.

    It maps the n-th counted prefix block to message n-1 (counting blocks,
    not messages), so the positions are simply the first ``counted`` ones.
    """
    prefix = context.blocks[: context.prefix_length]
    return range(sum(1 for block in prefix if _counts(block, include_system)))


def _counts(block: BlockSpec, include_system: bool) -> bool:
    if block.content_type == _TOOL_SCHEMA:
        return False
    return include_system or block.role != _SYSTEM


def _canonicalize_messages(editor: BodyEditor, key: str, indices: range) -> None:
    if not isinstance(editor.body.get(key), list | tuple):
        return
    for index in indices:
        message = editor.body[key][index] if index < len(editor.body[key]) else None
        if not isinstance(message, dict) or not _needs_canonical_parts(message):
            continue
        owned = editor.own_item(key, index)
        if owned is not None:
            owned["content"] = [_canonical_part(part) for part in owned["content"]]


def _part_type(part: Any) -> str:
    tag = part.get("type") if isinstance(part, dict) else None
    return tag if isinstance(tag, str) else "text"


def _needs_canonical_parts(message: JsonObject) -> bool:
    content = message.get("content")
    return isinstance(content, list | tuple) and any(_part_type(p) != "text" for p in content)


def _canonical_part(part: Any) -> Any:
    return part if _part_type(part) == "text" else canonical_reparse(part)
