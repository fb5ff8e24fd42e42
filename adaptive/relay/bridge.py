"""The live NeMo Relay bridge: one call plugs an ``AdaptiveRuntime`` into a Relay process.

``await RelayBridge.attach(runtime)`` registers, under one name, what the
config turns on (a section set to ``None`` is off, as in NeMo Relay):

- a subscriber (``telemetry``, with a ``state`` backend): NeMo Relay delivers
  events on its own thread; the callback only converts the event and hands it
  to the runtime's event loop (``call_soon_threadsafe``), so it never blocks
  NeMo Relay. Events that find the drain's queue full wait in the bridge's
  backlog, which a maintenance job feeds to the drain; nothing is dropped
  while the loop runs. The runtime's ``wait_for_idle`` flushes NeMo Relay's
  subscribers first, so it sees every event emitted before it was called;
- a tool-execution intercept running the warm-first scheduler
  (``tool_parallelism``; in ``inject_hints`` mode it records each grouped
  tool's learned parallel hint as an ``adaptive.parallel_hint`` mark after
  the tool ends);
- an LLM request intercept injecting agent hints (``adaptive_hints``);
- the response cache's execution intercepts (``response_cache``);
- the place of ACG's request rewriting (``acg``; see ``_register_acg``).

The plugin-host component (``adaptive.relay.plugin``) registers the same
things through NeMo Relay's ``PluginContext`` (``RelayBridge.register``).

Scope identity comes from NeMo Relay's scope stack: the top scope handle
(the scope a tool fans out from) and the propagation context's root uuid.
Scope names, parents and metadata above the top scope come from the events
already delivered, which is what the scope depth and manual overrides need.

Install with the ``relay`` extra: ``pip install 'adaptive-runtime[relay]'``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from adaptive.config import HintsLookup, ToolParallelismMode
from adaptive.errors import AdaptiveError, ConfigError
from adaptive.events.model import Event, ScopeCategory, ScopeType
from adaptive.intercepts.agent_hints import LlmCallSite
from adaptive.intercepts.warm_first import ToolScope
from adaptive.maintenance import MaintenanceSequenceKey
from adaptive.relay.registrar import GlobalRegistrar, Registrar

if TYPE_CHECKING:
    import nemo_relay

    from adaptive.relay.acg import AcgRewriter
    from adaptive.relay.response_cache import Registration
    from adaptive.runtime import AdaptiveRuntime

logger = logging.getLogger(__name__)

DEFAULT_NAME = "adaptive"
MANUAL_SENSITIVITY_KEY = ("nemo_relay_adaptive", "latency_sensitivity")
"""Where NeMo Relay keeps a scope's manual latency sensitivity in its metadata."""
PARALLEL_HINT_MARK = "adaptive.parallel_hint"
PATH_SCOPES = frozenset({ScopeType.AGENT.value, ScopeType.FUNCTION.value})
MAX_SCOPE_DEPTH = 256
RELAY_DEFAULT_AGENT = "default-agent"
"""NeMo Relay's agent id when neither the config nor the scope stack names one."""
INBOX_INTERVAL_S = 0.005
"""While events keep arriving, the loop collects them this often instead of being woken by
each: fewer cross-thread wake-ups, and the drain takes them in batches (5 ms is nothing next
to the drain's batch latency)."""


def _import_relay() -> Any:
    try:
        import nemo_relay
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "the NeMo Relay bridge needs the nemo-relay package: "
            "pip install 'adaptive-runtime[relay]'"
        ) from error
    return nemo_relay


@dataclass(slots=True)
class _OpenScope:
    name: str
    category: str
    parent: UUID | None
    manual_sensitivity: int | None


def _manual_sensitivity(metadata: Any) -> int | None:
    section = metadata.get(MANUAL_SENSITIVITY_KEY[0]) if isinstance(metadata, dict) else None
    value = section.get(MANUAL_SENSITIVITY_KEY[1]) if isinstance(section, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


class RelayBridge:
    """An ``AdaptiveRuntime`` attached to the NeMo Relay runtime of this process."""

    def __init__(self, runtime: AdaptiveRuntime, *, name: str = DEFAULT_NAME) -> None:
        self.runtime = runtime
        self.name = name
        self.relay = _import_relay()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.events_received = 0
        self.events_dropped = 0
        self.events_delayed = 0
        """Events that found the drain's queue full and waited in the backlog."""
        self.conversion_errors = 0
        self.wakeups = 0
        """Times the loop collected events: they arrive in batches of ``events_received /
        wakeups`` on average, each batch parsed in one pass."""
        self._scopes: dict[UUID, _OpenScope] = {}
        self._overrides: dict[UUID, int] = {}
        self._backlog: deque[Event] = deque()
        self._inbox: deque[str] = deque()
        self._inbox_scheduled = False
        self._attached = False
        self._backlog_key = MaintenanceSequenceKey(
            runtime.config.agent_id or "*", f"relay-bridge:{name}", "deliver_events"
        )
        tools = runtime.config.tool_parallelism
        self._marks_hints = tools is not None and tools.mode is ToolParallelismMode.INJECT_HINTS
        self._path_scope_types = (self.relay.ScopeType.Agent, self.relay.ScopeType.Function)
        self._registrar: Registrar | None = None
        self._cache_registration: Registration | None = None
        self.acg: AcgRewriter | None = None
        """The prompt-cache rewriter when ``acg.provider`` edits requests (its counters)."""

    @classmethod
    async def attach(cls, runtime: AdaptiveRuntime, *, name: str = DEFAULT_NAME) -> RelayBridge:
        """Start ``runtime`` if needed and register the bridge with NeMo Relay."""
        bridge = cls(runtime, name=name)
        await runtime.start()
        bridge.register(GlobalRegistrar(bridge.relay), asyncio.get_running_loop())
        return bridge

    async def __aenter__(self) -> RelayBridge:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.detach()

    @property
    def subscriber_name(self) -> str:
        """``telemetry.subscriber_name``, else the bridge's name."""
        telemetry = self.runtime.config.telemetry
        return (telemetry.subscriber_name if telemetry is not None else None) or self.name

    def register(self, registrar: Registrar, loop: asyncio.AbstractEventLoop) -> None:
        """Register what the config turns on; events are handed to the runtime on ``loop``.

        Everything registered so far is removed again if one registration fails.
        """
        self.loop = loop
        try:
            self._register_all(registrar)
        except BaseException:
            registrar.deregister_all()
            raise
        self._registrar = registrar
        self._attached = True
        if self.runtime.config.learns:
            self.runtime.add_event_source(self.flush_events)

    def _register_all(self, registrar: Registrar) -> None:
        config = self.runtime.config
        if config.learns:
            registrar.subscriber(self.subscriber_name, self._on_event)
        if config.tool_parallelism is not None:
            priority = config.tool_parallelism.priority
            registrar.tool_execution(self.name, priority, self._tool_execution)
        if config.adaptive_hints is not None:
            hints = config.adaptive_hints
            registrar.llm_request(self.name, hints.priority, hints.break_chain, self._llm_request)
        self._register_acg(registrar)
        if config.response_cache is not None:
            self._register_response_cache(registrar)

    def _register_acg(self, registrar: Registrar) -> None:
        """ACG prompt-cache rewriting, where NeMo Relay puts it (``adaptive.relay.acg``).

        Registered, as NeMo Relay does, when ``acg`` is configured and there
        is a state backend; ``passthrough`` observes only and registers nothing.
        """
        from adaptive.relay.acg import register_acg

        config = self.runtime.config
        if config.acg is None or config.state is None:
            return
        self.acg = register_acg(
            registrar,
            name=self.name,
            priority=config.acg.priority,
            provider=config.acg.provider,
            hot_cache=self.runtime.hot_cache,
            agent_of=self._acg_agent,
            relay=self.relay,
        )

    def _acg_agent(self) -> str:
        """The agent a request's learned prefix is stored under: the configured one, else the
        outermost agent scope's name (each run's agent when none is configured)."""
        configured = self.runtime.config.agent_id
        if configured is not None:
            return configured
        top = self._top_scope()
        _, agents, _ = self._scope_path(top)
        return agents[0] if agents else str(top.name)

    def _register_response_cache(self, registrar: Registrar) -> None:
        """NeMo Relay's ``response_cache`` section, with our knobs (``response_cache_options``)."""
        from adaptive.cache import ResponseCache
        from adaptive.relay.response_cache import register_response_cache

        config = self.runtime.config
        assert config.response_cache is not None
        cache = ResponseCache(config.response_cache, config.response_cache_options)
        self.runtime.response_cache = cache
        self._cache_registration = register_response_cache(
            cache, name=f"{self.name}_response_cache", registrar=registrar
        )

    async def flush_events(self) -> None:
        """Hand the runtime every event NeMo Relay emitted so far (``wait_for_idle`` calls it).

        NeMo Relay delivers events on its own thread, after the call that
        emitted them returned; its ``flush_async`` waits for that delivery.
        """
        if not self._attached:
            return
        await self.relay.subscribers.flush_async()
        self._drain_inbox()  # what NeMo Relay delivered before the flush returned
        await self.runtime.maintenance.flush(scope_id=self._backlog_key.scope_id)

    async def detach(self) -> None:
        """Deregister everything, then hand every event already emitted to the runtime.

        The runtime stays open (its owner closes it); call
        ``runtime.wait_for_idle()`` to wait for learning. A response cache the
        bridge registered is closed.
        """
        if not self._attached or self._registrar is None:
            return
        if self._cache_registration is not None:
            self._cache_registration.deregister()
        self._registrar.deregister_all()
        await self.flush_events()
        await self.released()
        if self.runtime.response_cache is not None:
            await self.runtime.response_cache.close()

    async def released(self) -> None:
        """NeMo Relay no longer calls us: hand over what it delivered, stop being a source.

        What ``detach`` ends with, and what the plugin-host component runs on
        the runtime's loop once NeMo Relay removed its registrations.
        """
        self._attached = False
        self.runtime.remove_event_source(self.flush_events)
        self._drain_inbox()
        await self.runtime.maintenance.flush(scope_id=self._backlog_key.scope_id)

    @property
    def attached(self) -> bool:
        return self._attached

    # -- events: NeMo Relay's thread -> the runtime's loop --------------------

    def _on_event(self, relay_event: Any) -> None:
        """Runs on NeMo Relay's delivery thread: take the JSON, wake the loop once, return.

        Events are parsed on the loop in batches: the first event of a busy
        stretch wakes the loop, which then collects what arrived every
        ``INBOX_INTERVAL_S`` until a collection finds nothing; NeMo Relay's
        thread holds the GIL only for the serialization it does natively.
        """
        try:
            payload = relay_event.to_json()
        except Exception:
            self.conversion_errors += 1
            logger.warning("NeMo Relay event could not be serialized; skipped", exc_info=True)
            return
        self._inbox.append(payload)
        if self._inbox_scheduled:
            return
        self._inbox_scheduled = True
        loop = self.loop
        try:
            if loop is None:
                raise RuntimeError("bridge has no loop")
            loop.call_soon_threadsafe(self._collect_later)
        except RuntimeError:
            self._inbox_scheduled = False
            self.events_dropped += len(self._inbox)
            self._inbox.clear()
            logger.error("events arrived after the runtime's loop closed; dropped")

    def _collect_later(self) -> None:
        """On the loop, woken by the first event of a busy stretch: collect in a moment."""
        asyncio.get_running_loop().call_later(INBOX_INTERVAL_S, self._collect)

    def _collect(self) -> None:
        """Parse what arrived; look again shortly while events keep coming, else sleep until
        the next event wakes the loop. Measured on the scripted agent: one wake-up per ~1.2
        events when each event woke the loop, ~10 with this."""
        if self._drain_inbox():
            self._collect_later()
            return
        self._inbox_scheduled = False
        if self._inbox:  # arrived while deciding to stop: its producer saw us scheduled
            self._inbox_scheduled = True
            self._collect_later()

    def _drain_inbox(self) -> int:
        """On the runtime's loop: parse what arrived since the last collection, in order."""
        self.wakeups += 1
        inbox = self._inbox
        taken = 0
        while inbox:
            payload = inbox.popleft()
            taken += 1
            try:
                event = Event.model_validate_json(payload)
            except ValueError:
                self.conversion_errors += 1
                logger.warning("NeMo Relay event could not be read; skipped", exc_info=True)
                continue
            self._deliver(event)
        return taken

    def _deliver(self, event: Event) -> None:
        """On the runtime's loop: track scopes, then queue the event for the drain."""
        self.events_received += 1
        if event.is_scope:
            self._track_scope(event)
        if self._backlog:
            self.events_delayed += 1
            self._backlog.append(event)
            return
        try:
            self.runtime.emit_nowait(event)
        except asyncio.QueueFull:
            self.events_delayed += 1
            self._backlog.append(event)
            self._schedule_backlog()

    def _schedule_backlog(self) -> None:
        """Feed the backlog to the drain in the background, waiting for room as it goes."""
        try:
            self.runtime.maintenance.submit_nowait(self._backlog_key, self._drain_backlog)
        except AdaptiveError:
            # Queue full or closed: retry shortly; the backlog keeps every event.
            asyncio.get_running_loop().call_later(0.01, self._schedule_backlog)

    async def _drain_backlog(self) -> None:
        backlog = self._backlog
        while backlog:
            await self.runtime.emit(backlog[0])
            backlog.popleft()

    def _track_scope(self, event: Event) -> None:
        category = event.category or ""
        if event.scope_category is ScopeCategory.START:
            self._scopes[event.uuid] = _OpenScope(
                event.name, category, event.parent_uuid, _manual_sensitivity(event.metadata)
            )
        elif event.scope_category is ScopeCategory.END:
            self._scopes.pop(event.uuid, None)
            self._overrides.pop(event.uuid, None)
            if category == ScopeType.AGENT.value:
                self.runtime.agent_hints.forget_run(str(event.uuid))

    # -- scope identity ----------------------------------------------------------

    def _top_scope(self) -> nemo_relay.ScopeHandle:
        handle: nemo_relay.ScopeHandle = self.relay.scope.get_handle()
        return handle

    def _root_uuid(self, top: nemo_relay.ScopeHandle) -> str:
        root = self.relay.capture_propagation_context().root_uuid
        return str(root) if root else top.uuid

    def tool_scope(self) -> ToolScope | None:
        """The cohort identity of the tool call being intercepted."""
        try:
            top = self._top_scope()
            return ToolScope(UUID(self._root_uuid(top)), UUID(top.uuid))
        except Exception:
            logger.debug("no scope identity for a tool call", exc_info=True)
            return None

    def set_latency_sensitivity(self, level: int) -> None:
        """Manual latency sensitivity for LLM calls under the current scope (max wins)."""
        if level < 0:
            raise ValueError("latency sensitivity must be >= 0")
        scope = UUID(self._top_scope().uuid)
        self._overrides[scope] = max(level, self._overrides.get(scope, level))

    def llm_call_site(self, call_name: str) -> LlmCallSite:
        """Path, call index, depth and manual override for an LLM request about to go out.

        The lookup (``adaptive_hints.lookup``) decides path, index and agent
        id: ours (``call_site``) or NeMo Relay's (``relay``).
        """
        top = self._top_scope()
        path, agents, manual = self._scope_path(top)
        injector = self.runtime.agent_hints
        configured = self.runtime.config.agent_id
        if injector.settings.lookup is HintsLookup.RELAY:
            return LlmCallSite(
                path=tuple(path),
                call_index=injector.next_relay_call_index(),
                agent_id=agents[0] if agents else configured or RELAY_DEFAULT_AGENT,
                scope_depth=len(path),
                manual_sensitivity=manual,
            )
        return LlmCallSite(
            path=(call_name,),
            call_index=injector.next_call_index(self._root_uuid(top), call_name),
            agent_id=configured or top.name,
            scope_depth=len(path),
            manual_sensitivity=manual,
        )

    def _scope_path(self, top: nemo_relay.ScopeHandle) -> tuple[list[str], list[str], int | None]:
        """Agent/function scope names and agent names, root first, and the manual sensitivity."""
        path: list[str] = []
        agents: list[str] = []
        if top.scope_type in self._path_scope_types:
            path.append(top.name)
            if top.scope_type == self.relay.ScopeType.Agent:
                agents.append(top.name)
        manual = _max(_manual_sensitivity(top.metadata), self._overrides.get(UUID(top.uuid)))
        for scope_uuid, scope in self._ancestors(top.parent_uuid):
            if scope.category in PATH_SCOPES:
                path.append(scope.name)
                if scope.category == ScopeType.AGENT.value:
                    agents.append(scope.name)
            manual = _max(manual, _max(scope.manual_sensitivity, self._overrides.get(scope_uuid)))
        path.reverse()
        agents.reverse()
        return path, agents, manual

    def _ancestors(self, parent: str | None) -> Iterator[tuple[UUID, _OpenScope]]:
        """Open scopes above the top one, as far as their start events have arrived."""
        current = UUID(parent) if parent else None
        for _ in range(MAX_SCOPE_DEPTH):
            scope = self._scopes.get(current) if current is not None else None
            if current is None or scope is None:
                return
            yield current, scope
            current = scope.parent

    # -- intercepts ----------------------------------------------------------------

    async def _tool_execution(
        self,
        context: nemo_relay.ToolExecutionContext,
        next_call: Callable[[Any], Awaitable[nemo_relay.ToolExecutionResult[Any]]],
    ) -> nemo_relay.ToolExecutionInterceptOutcome:
        relay = self.relay
        warm_first = self.runtime.warm_first
        name = context.tool_name
        args = context.args
        downstream = await warm_first.run(name, self.tool_scope, lambda: next_call(args))
        marks = []
        hint = warm_first.parallel_hint(name) if self._marks_hints else None
        if hint is not None:
            marks.append(
                relay.PendingMarkSpec(PARALLEL_HINT_MARK, data=hint.model_dump(mode="json"))
            )
        outcome: nemo_relay.ToolExecutionInterceptOutcome = relay.ToolExecutionInterceptOutcome(
            downstream.result, marks, annotation=downstream.annotation
        )
        return outcome

    def _llm_request(
        self,
        name: str,
        request: nemo_relay.LLMRequest,
        annotated: nemo_relay.AnnotatedLLMRequest | None,
    ) -> nemo_relay.LLMRequestInterceptOutcome:
        relay = self.relay
        injector = self.runtime.agent_hints
        try:
            hints = injector.hints_for(self.llm_call_site(name))
        except Exception:
            logger.warning("agent hints lookup failed; request sent without hints", exc_info=True)
            hints = None
        if hints is None:
            return relay.LLMRequestInterceptOutcome(request, annotated)  # type: ignore[no-any-return]
        if annotated is not None:
            _, extra = injector.inject({}, annotated.extra, hints)
            annotated.extra = extra or {}
            headers, _ = injector.inject(request.headers, None, hints)
            new_request = relay.LLMRequest(headers, request.content)
        else:
            headers, content = injector.inject(request.headers, request.content, hints)
            new_request = relay.LLMRequest(headers, content or {})
        return relay.LLMRequestInterceptOutcome(new_request, annotated)  # type: ignore[no-any-return]
