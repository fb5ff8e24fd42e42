"""Streamed OpenAI Chat answers: know when one finished, assemble it, replay it.

A miss's chunks are forwarded as they arrive and kept; a stream that ended
cleanly (every choice it opened has a ``finish_reason``, no in-band error) is
stored as the assembled ``chat.completion`` -- the shape a buffered call stores,
so buffered and streaming calls share one keyspace as in NeMo Relay -- with
the original chunks beside it, replayed verbatim and in order on a hit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ChatStreamAssembler:
    chunks: list[Any] = field(default_factory=list)
    faulty: bool = False
    _opened: set[int] = field(default_factory=set)
    _finished: set[int] = field(default_factory=set)

    def add(self, chunk: Any) -> None:
        self.chunks.append(chunk)
        if not isinstance(chunk, dict) or chunk.get("error") is not None:
            self.faulty = True
            return
        if chunk.get("type") in {"error", "response.failed"}:
            self.faulty = True
        for choice in chunk.get("choices") or []:
            index = choice.get("index", 0) if isinstance(choice, dict) else 0
            self._opened.add(index)
            if isinstance(choice, dict) and choice.get("finish_reason") is not None:
                self._finished.add(index)

    @property
    def complete(self) -> bool:
        return not self.faulty and bool(self._opened) and self._opened == self._finished

    def aggregate(self) -> dict[str, Any] | None:
        """The ``chat.completion`` these chunks spell, or ``None`` when it has no content."""
        head: dict[str, Any] = {}
        choices: dict[int, dict[str, Any]] = {}
        for chunk in self.chunks:
            for name in ("id", "created", "model", "system_fingerprint"):
                if chunk.get(name) is not None:
                    head.setdefault(name, chunk[name])
            if chunk.get("usage") is not None:
                head["usage"] = chunk["usage"]
            for choice in chunk.get("choices") or []:
                _merge_choice(choices.setdefault(choice.get("index", 0), _empty(choice)), choice)
        if not any(_has_content(choice["message"]) for choice in choices.values()):
            return None
        aggregate = {"object": "chat.completion", **head}
        aggregate["choices"] = [_finish(choices[index]) for index in sorted(choices)]
        return aggregate


def _empty(choice: dict[str, Any]) -> dict[str, Any]:
    return {"index": choice.get("index", 0), "message": {"role": "assistant"},
            "finish_reason": None, "_calls": {}}  # fmt: skip


def _merge_choice(target: dict[str, Any], choice: dict[str, Any]) -> None:
    delta = choice.get("delta") or {}
    message = target["message"]
    if isinstance(delta.get("role"), str):
        message["role"] = delta["role"]
    if isinstance(delta.get("content"), str):
        message["content"] = message.get("content", "") + delta["content"]
    for call in delta.get("tool_calls") or []:
        slot = target["_calls"].setdefault(
            call.get("index", 0),
            {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
        )
        if call.get("id"):
            slot["id"] = call["id"]
        function = call.get("function") or {}
        slot["function"]["name"] += function.get("name") or ""
        slot["function"]["arguments"] += function.get("arguments") or ""
    if choice.get("finish_reason") is not None:
        target["finish_reason"] = choice["finish_reason"]


def _finish(choice: dict[str, Any]) -> dict[str, Any]:
    calls = choice.pop("_calls")
    message = choice["message"]
    message.setdefault("content", None)
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    return choice


def _has_content(message: dict[str, Any]) -> bool:
    return bool(message.get("content")) or bool(message.get("tool_calls"))


def replay_chunks(aggregate: Any) -> list[Any] | None:
    """Chat chunks for an aggregate stored without chunks (say, by NeMo Relay's buffered call)."""
    if not isinstance(aggregate, dict) or not isinstance(aggregate.get("choices"), list):
        return None
    head = {name: aggregate[name] for name in ("id", "created", "model") if name in aggregate}
    head["object"] = "chat.completion.chunk"
    chunks: list[Any] = []
    for choice in aggregate["choices"]:
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": message.get("role", "assistant")}
        if message.get("content") is not None:
            delta["content"] = message["content"]
        if message.get("tool_calls"):
            delta["tool_calls"] = [
                {"index": i, **call} for i, call in enumerate(message["tool_calls"])
            ]
        index = choice.get("index", 0)
        chunks.append(
            {**head, "choices": [{"index": index, "delta": delta, "finish_reason": None}]}
        )
        finish = {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}
        chunks.append({**head, "choices": [finish]})
    if aggregate.get("usage") is not None:
        chunks.append({**head, "choices": [], "usage": aggregate["usage"]})
    return chunks
