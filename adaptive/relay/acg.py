"""ACG's prompt-cache rewriting as NeMo Relay LLM execution intercepts.

NeMo Relay 0.10.4 applies ``acg.provider`` in two execution intercepts (one
for ``llm.execute``, one for ``llm.stream_execute``) at ``acg.priority``
(50: before the response cache at 150), so the rewrite sees the body after
every request intercept — agent hints included — and the provider receives
it rewritten. These do the same with ``adaptive.acg.providers``: they read
only the hot cache (no I/O on the agent's path) and never fail a call — a
rewrite that raises sends the request as it was, logged once per cause.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from adaptive.acg.providers import CacheProvider, PassthroughCacheProvider, provider_named
from adaptive.log_limits import CountedWarnings

if TYPE_CHECKING:
    from adaptive.hot_cache import HotCache
    from adaptive.relay.registrar import Registrar

logger = logging.getLogger(__name__)

AgentOf = Callable[[], str]
"""The agent id learned state is stored under, for the request about to go out."""


class AcgRewriter:
    """One provider (it memoizes decoded scaffolds), the hot cache, and the agent to key by."""

    def __init__(self, provider: CacheProvider, hot_cache: HotCache, agent_of: AgentOf) -> None:
        self.provider = provider
        self.hot_cache = hot_cache
        self.agent_of = agent_of
        self.rewritten = 0
        self.failures = 0
        self._warnings = CountedWarnings(logger)

    def rewrite(self, body: Any) -> Any:
        """The body NeMo Relay would send, or ``body`` itself when it cannot be rewritten."""
        if not isinstance(body, dict):
            return body
        try:
            rewritten = self.provider.rewrite(body, self.hot_cache, agent_id=self.agent_of())
        except Exception as error:
            self.failures += 1
            self._warnings.warn(
                type(error).__name__,
                "ACG rewrite failed, request sent unchanged: %s",
                error,
                exc_info=True,
            )
            return body
        if rewritten is not body:
            self.rewritten += 1
        return rewritten


def register_acg(
    registrar: Registrar,
    *,
    name: str,
    priority: int,
    provider: str,
    hot_cache: HotCache,
    agent_of: AgentOf,
    relay: Any,
) -> AcgRewriter | None:
    """Register the two intercepts; nothing for ``passthrough``, which observes only."""
    chosen = provider_named(provider)
    if isinstance(chosen, PassthroughCacheProvider):
        return None
    rewriter = AcgRewriter(chosen, hot_cache, agent_of)
    registrar.llm_execution(f"{name}_acg_llm_execution", priority, _execution(rewriter, relay))
    registrar.llm_stream_execution(
        f"{name}_acg_llm_stream_execution", priority, _stream_execution(rewriter, relay)
    )
    return rewriter


def _rewritten_request(rewriter: AcgRewriter, request: Any, relay: Any) -> Any:
    body = rewriter.rewrite(request.content)
    if body is request.content:
        return request
    return relay.LLMRequest(request.headers, body)


def _execution(rewriter: AcgRewriter, relay: Any) -> Callable[..., Awaitable[Any]]:
    async def intercept(provider: str, request: Any, context: Any, next_call: Any) -> Any:
        return await next_call(_rewritten_request(rewriter, request, relay))

    return intercept


def _stream_execution(
    rewriter: AcgRewriter, relay: Any
) -> Callable[..., Awaitable[AsyncIterator[Any]]]:
    async def intercept(
        provider: str, request: Any, context: Any, next_call: Any
    ) -> AsyncIterator[Any]:
        stream: AsyncIterator[Any] = await next_call(_rewritten_request(rewriter, request, relay))
        return stream

    return intercept
