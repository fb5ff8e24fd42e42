"""``acg.provider = "passthrough"``: ACG observes and learns, and never edits a request.

NeMo Relay still decodes the request and looks up what was learned, then
declines to build hints for this provider, so the body goes out as it came
(apart from the key order every NeMo Relay body gets, see ``relay_json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from adaptive.acg.providers.base import CacheProvider, RewriteContext
from adaptive.acg.providers.codec_fields import JsonObject
from adaptive.acg.providers.request_view import RequestSurface
from adaptive.hot_cache import HotCache


class PassthroughCacheProvider(CacheProvider):
    """Leaves every request as it is."""

    name: ClassVar[str] = "passthrough"
    surfaces: ClassVar[frozenset[RequestSurface]] = frozenset(RequestSurface)

    def rewrite(
        self, request: Mapping[str, Any], hot_cache: HotCache, *, agent_id: str
    ) -> JsonObject:
        return dict(request)

    def edit(self, context: RewriteContext) -> JsonObject | None:
        return None
