"""The rewrite pipeline every provider shares, up to the provider-specific edit.

NeMo Relay rewrites a request only after a chain of gates, each failing
closed (the request goes out unchanged): the body has an ACG surface and
decodes; the hot cache holds a learned result for the request's learning
key (else the agent's aggregate); that result has at least two
observations and a stable-prefix fingerprint; and the live request's own
prefix fingerprint equals it. ``CacheProvider.rewrite`` runs the same chain
and hands the survivors to the provider's ``edit``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from adaptive.acg.canonical import canonical_json
from adaptive.acg.providers.codec_fields import JsonObject, RequestDecodeError
from adaptive.acg.providers.decoder import RequestDecoder, detect_surface
from adaptive.acg.providers.memo import BoundedMemo
from adaptive.acg.providers.prefix import BlockSpec, PrefixBuilder
from adaptive.acg.providers.relay_json import serde_loads
from adaptive.acg.providers.request_view import DecodedRequest, DecodedTools, RequestSurface
from adaptive.acg.stability import StabilityAnalysisResult
from adaptive.hot_cache import HotCache

MIN_OBSERVATIONS = 2
"""NeMo Relay's ``MIN_ACG_OBSERVATIONS``."""


@dataclass(frozen=True, slots=True)
class LearnedPrefix:
    """The learned result NeMo Relay consults for a request, and its observation count."""

    stability: StabilityAnalysisResult
    observation_count: int


def learned_prefix(hot_cache: HotCache, learning_key: str) -> LearnedPrefix | None:
    """The profile for the learning key, else the agent's aggregate (as NeMo Relay reads it)."""
    profile = hot_cache.acg_profiles.get(learning_key)
    if profile is not None:
        count = hot_cache.acg_profile_observation_counts.get(learning_key)
        return LearnedPrefix(profile, profile.total_observations if count is None else count)
    if hot_cache.acg_stability is not None:
        return LearnedPrefix(hot_cache.acg_stability, hot_cache.acg_observation_count)
    return None


@dataclass(frozen=True, slots=True)
class RewriteContext:
    """A request that passed every gate: its prefix matches what was learned."""

    body: Mapping[str, Any]
    request: DecodedRequest
    blocks: tuple[BlockSpec, ...]
    """The stable prefix's blocks, plus the next block when the request has one.

    NeMo Relay resolves a breakpoint target by the span id of the prefix's
    last block; span ids embed the block index, so that is always the block
    at ``end - 1``.
    """
    learned: LearnedPrefix
    learning_key: str

    @property
    def prefix_length(self) -> int:
        return self.learned.stability.stable_prefix_length


class BodyEditor:
    """Copy-on-write edits of a request body: only the containers touched are copied."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body: JsonObject = dict(body)
        self._copied: set[tuple[str, int]] = set()

    def replace(self, key: str, value: Any, *, owned: bool = False) -> None:
        """Set a member; ``owned``: a new list of ours, edited in place from now on."""
        self.body[key] = value
        if self._copied:
            self._copied = {mark for mark in self._copied if mark[0] != key}
        if owned:
            self._copied.add((key, -1))

    def own_list(self, key: str) -> list[Any] | None:
        """The body's list under ``key``, copied on first use; None when not an array."""
        value = self.body.get(key)
        if not isinstance(value, list | tuple):
            return None
        if (key, -1) not in self._copied:
            self.body[key] = list(value)
            self._copied.add((key, -1))
        owned: list[Any] = self.body[key]
        return owned

    def own_item(self, key: str, index: int) -> JsonObject | None:
        """A copy of the object at ``body[key][index]``; None when absent or not an object."""
        items = self.own_list(key)
        if items is None or not 0 <= index < len(items) or not isinstance(items[index], dict):
            return None
        if (key, index) not in self._copied:
            items[index] = dict(items[index])
            self._copied.add((key, index))
        item: JsonObject = items[index]
        return item


class CacheProvider(ABC):
    """A provider cache plugin: which surfaces it edits and how.

    Instances keep memos of decoded requests and learned-result plans, so
    create one per provider and reuse it for every request.
    """

    name: ClassVar[str]
    surfaces: ClassVar[frozenset[RequestSurface]]

    def __init__(self) -> None:
        self._decoder = RequestDecoder()
        self._prefixes = PrefixBuilder()
        self.relay_tools = RelayTools()

    def rewrite(
        self, request: Mapping[str, Any], hot_cache: HotCache, *, agent_id: str
    ) -> JsonObject:
        """The body NeMo Relay 0.10.4 would send; never mutates ``request``."""
        context = self.context(request, hot_cache, agent_id=agent_id)
        if context is None:
            return dict(request)
        edited = self.edit(context)
        return dict(request) if edited is None else edited

    def context(
        self, request: Mapping[str, Any], hot_cache: HotCache, *, agent_id: str
    ) -> RewriteContext | None:
        """The request's learned context when every gate passes, else None."""
        surface = detect_surface(request)
        if surface is None or surface not in self.surfaces:
            return None
        try:
            decoded = self._decoder.decode_as(surface, request)
        except RequestDecodeError:
            return None
        key = self._prefixes.learning_key(agent_id, decoded)
        learned = learned_prefix(hot_cache, key)
        if learned is None or learned.observation_count < MIN_OBSERVATIONS:
            return None
        stored = learned.stability.stable_prefix_fingerprint
        if stored is None:
            return None
        length = learned.stability.stable_prefix_length
        blocks = self._prefixes.prefix(decoded, length + 1)
        if self._prefixes.fingerprint(decoded, blocks, length, key) != stored:
            return None
        return RewriteContext(request, decoded, blocks, learned, key)

    def learning_key(self, request: Mapping[str, Any], *, agent_id: str) -> str | None:
        """The learning key NeMo Relay derives for a request; None when it cannot decode it."""
        try:
            decoded = self._decoder.decode(request)
        except RequestDecodeError:
            return None
        return self._prefixes.learning_key(agent_id, decoded)

    @abstractmethod
    def edit(self, context: RewriteContext) -> JsonObject | None:
        """The rewritten body, or None to send the request unchanged."""


class RelayTools:
    """Raw tool schemas after NeMo Relay's canonicalize-and-reparse, computed once each.

    The tool objects are shared between results. A private copy of their
    containers (sharing the immutable strings, so that comparing is mostly
    identity checks) is compared before each reuse, so a caller that edits a
    result's tool in place costs a rebuild, never a wrong body.
    """

    def __init__(self) -> None:
        self._by_text: BoundedMemo[str, tuple[Any, Any]] = BoundedMemo()

    def of(self, tools: DecodedTools | None, raw_tools: Any) -> list[Any] | None:
        """A new list of the canonical tools; None when the body has no tools array."""
        if tools is None or not isinstance(raw_tools, list | tuple):
            return None
        relay = tools.relay
        if relay is None or relay[0] != relay[1]:
            reparsed = [self._reparsed(tool) for tool in raw_tools]
            relay = tools.relay = (reparsed, _snapshot(reparsed))
        return list(relay[0])

    def _reparsed(self, tool: Any) -> Any:
        """A tool rebuilt by the caller with the same content reuses the earlier result."""
        text = canonical_json(tool)
        cached = self._by_text.get(text)
        if cached is None or cached[0] != cached[1]:
            value = serde_loads(text)
            cached = self._by_text.put(text, (value, _snapshot(value)))
        return cached[0]


def _snapshot(value: Any) -> Any:
    """Copies of the containers of a reparsed JSON value, sharing its scalars."""
    if type(value) is dict:
        return {name: _snapshot(item) for name, item in value.items()}
    if type(value) is list:
        return [_snapshot(item) for item in value]
    return value
