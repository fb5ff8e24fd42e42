"""A realistic agent workload in ATOF, generated from a seed.

Real traces carry users' prompts and cannot ship, and the reference sample is
small and uses one model. The demo (and tests that want more than the sample)
need a stream with everything the learners and the analytics look for:
parallel tool fan-outs, several models, prompts whose system and tool blocks
repeat while the user text varies, token usage, latency tails, occasional
errors and runs that overlap in time. Events have the shape NeMo Relay's ATOF
exporter writes (see ``examples/research-agent.atof.jsonl``), so they go
through the same reader and drain as a recorded trace.

The same ``WorkloadSpec`` always gives byte-identical events.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from uuid import UUID

from adaptive.timestamps import format_rfc3339_ns

MS = 1_000_000
"""Nanoseconds per millisecond."""
HOUR_NS = 3_600 * 1_000 * MS
DAY_NS = 24 * HOUR_NS
DEFAULT_END_NS = 1_795_478_400 * 1_000_000_000
"""2026-11-24T00:00:00Z: a fixed end, so a spec without one is reproducible."""

EventDict = dict[str, Any]


@dataclass(frozen=True)
class WorkloadSpec:
    """What to generate: how many runs, from which seed, over which time span."""

    runs: int = 150
    seed: int = 7
    agent_name: str = "research-assistant"
    end_ns: int = DEFAULT_END_NS
    span_ns: int = 7 * DAY_NS
    """Runs start within ``[end_ns - span_ns, end_ns)``, in bursts of 1-3 overlapping runs."""


# -- the agent being simulated ------------------------------------------------


@dataclass(frozen=True)
class Model:
    """An LLM endpoint: how fast it answers."""

    name: str
    first_token_ms: float
    ms_per_output_token: float


PLANNER_MODEL = Model("llama-3.3-70b-instruct", 350.0, 18.0)
SUMMARY_MODEL = Model("llama-3.1-8b-instruct", 120.0, 6.0)
ANSWER_MODEL = Model("mixtral-8x22b-instruct", 250.0, 12.0)


@dataclass(frozen=True)
class Tool:
    """A tool: its schema (sent to the planner model) and its latency distribution."""

    name: str
    description: str
    median_ms: float
    spread: float
    """Sigma of the log-normal latency: the larger, the longer the tail."""

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}},
                    "required": ["query"],
                },
            },
        }


SEARCH_WEB = Tool("search_web", "Search the public web", 450.0, 0.5)
SEARCH_DOCS = Tool("search_docs", "Search the internal documentation", 250.0, 0.4)
QUERY_DB = Tool("query_db", "Run a read-only SQL query on the metrics warehouse", 80.0, 0.6)
FETCH_PAGE = Tool("fetch_page", "Fetch a page and return its text", 700.0, 0.7)
RANK_SOURCES = Tool("rank_sources", "Rank sources by relevance", 150.0, 0.3)
WRITE_REPORT = Tool("write_report", "Save the answer as a report", 300.0, 0.3)
PLANNER_TOOLS = (SEARCH_WEB, SEARCH_DOCS, QUERY_DB, FETCH_PAGE, RANK_SOURCES)

PLANNER_SYSTEM = (
    "You are the planning step of a research assistant. Decide which tools to call, "
    "in parallel where the calls are independent, to answer the user's question. "
    "Prefer internal documentation over the web for product questions."
)
SUMMARY_SYSTEM = (
    "Summarize the search results below in at most five bullet points. "
    "Keep numbers and names exact; say when sources disagree."
)
ANSWER_SYSTEM = (
    "You write the final answer of a research assistant. Answer in three short "
    "paragraphs and cite every source as [n]."
)
ANSWER_EXAMPLE_QUESTION = "Example question: how long is the default session timeout?"
ANSWER_EXAMPLE_ANSWER = "The default session timeout is 30 minutes [1]; admins can change it [2]."
WORKSPACES = ("workspace=platform", "workspace=platform", "workspace=platform", "workspace=data")
"""The planner's context line: mostly one workspace, so the block is semi-stable."""

TOPICS = (
    "the ingestion pipeline",
    "GPU scheduling",
    "the billing export",
    "cache hit rates",
    "the on-call rotation",
    "schema migrations",
    "vector search latency",
    "the Q3 cost report",
    "rate limiting",
    "token usage per team",
)
QUESTION_FORMS = (
    "What changed in {topic} last week?",
    "Why did {topic} regress after the last release?",
    "Summarize the open issues about {topic}.",
    "Who owns {topic}, and what is on their roadmap?",
    "Compare our approach to {topic} with the industry default.",
)


# -- event construction -------------------------------------------------------


@dataclass(order=True)
class _Timed:
    """An event with its sort key; ``order`` keeps starts before ends at equal times."""

    timestamp: int
    order: int
    event: EventDict = field(compare=False)


@dataclass
class _RunBuilder:
    """Collects one run's events; scopes are opened and closed at explicit times."""

    rng: random.Random
    workflow_uuid: str
    events: list[_Timed] = field(default_factory=list)
    failed: bool = False
    _order: Iterator[int] = field(default_factory=itertools.count)

    def uuid_at(self, at_ns: int) -> str:
        return str(uuid7(at_ns, self.rng))

    def scope(
        self,
        phase: str,
        category: str,
        name: str,
        uuid: str,
        parent: str,
        at_ns: int,
        *,
        profile: dict[str, Any] | None = None,
        data: Any = None,
        status: str | None = None,
    ) -> None:
        event: EventDict = {
            "atof_version": "0.1",
            "attributes": [],
            "category": category,
            "category_profile": profile,
            "data": data,
            "data_schema": None,
            "kind": "scope",
            "metadata": None if status is None else {"otel.status_code": status},
            "name": name,
            "parent_uuid": parent,
            "propagation_root_uuid": self.workflow_uuid,
            "scope_category": phase,
            "timestamp": format_rfc3339_ns(at_ns, zulu=False),
            "uuid": uuid,
        }
        self.events.append(_Timed(at_ns, next(self._order), event))

    def tool(self, tool: Tool, parent: str, start_ns: int, query: str) -> int:
        """One tool call; returns its end time."""
        uuid = self.uuid_at(start_ns)
        self.scope(
            "start", "tool", tool.name, uuid, parent, start_ns, profile={}, data={"query": query}
        )
        end_ns = start_ns + _millis(self.rng.lognormvariate(math.log(tool.median_ms), tool.spread))
        ok = self.rng.random() >= TOOL_ERROR_RATE
        self.failed = self.failed or not ok
        result = {"ok": ok, "tool": tool.name} if ok else {"ok": False, "error": "upstream timeout"}
        self.scope(
            "end",
            "tool",
            tool.name,
            uuid,
            parent,
            end_ns,
            profile={},
            data=result,
            status="OK" if ok else "ERROR",
        )
        return end_ns

    def fan_out(
        self, function: str, tools: Iterable[Tool], parent: str, at_ns: int, query: str
    ) -> int:
        """Tools started a few milliseconds apart inside one function scope, run in parallel."""
        uuid = self.uuid_at(at_ns)
        self.scope("start", "function", function, uuid, parent, at_ns)
        ends = [
            self.tool(tool, uuid, at_ns + (index + 1) * _millis(self.rng.uniform(0.1, 2.0)), query)
            for index, tool in enumerate(tools)
        ]
        end_ns = max(ends) + _millis(self.rng.uniform(0.2, 1.5))
        self.scope("end", "function", function, uuid, parent, end_ns, status="OK")
        return end_ns

    def llm(
        self,
        name: str,
        model: Model,
        request: dict[str, Any],
        parent: str,
        at_ns: int,
        output_tokens: int,
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> int:
        """One LLM call with NeMo Relay's annotated request and response; returns its end time."""
        uuid = self.uuid_at(at_ns)
        annotated_request = {"api_specific": {"api": "openai_chat"}, "model": model.name, **request}
        self.scope(
            "start",
            "llm",
            name,
            uuid,
            parent,
            at_ns,
            profile={"annotated_request": annotated_request, "model_name": model.name},
            data={"content": {"model": model.name, **request}},
        )
        latency = model.first_token_ms + output_tokens * model.ms_per_output_token
        end_ns = at_ns + _millis(latency * self.rng.uniform(0.85, 1.3))
        prompt_tokens = _estimated_tokens(request)
        usage = {
            "completion_tokens": output_tokens,
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens + output_tokens,
        }
        response: dict[str, Any] = {
            "api_specific": {"api": "openai_chat"},
            "id": f"chatcmpl-{uuid[-12:]}",
            "message": "calling tools" if tool_calls else "done",
            "model": model.name,
            "usage": usage,
        }
        if tool_calls:
            response["tool_calls"] = tool_calls
        self.scope(
            "end",
            "llm",
            name,
            uuid,
            parent,
            end_ns,
            profile={"annotated_response": response, "model_name": model.name},
            data={"id": response["id"], "model": model.name, "usage": usage},
            status="OK",
        )
        return end_ns


TOOL_ERROR_RATE = 0.03
REPLAN_RATE = 0.4
DEEP_DIVE_RATE = 0.5
REPORT_RATE = 0.3


def _millis(value: float) -> int:
    return max(1, round(value * MS))


def _estimated_tokens(request: dict[str, Any]) -> int:
    """About four characters per token, as tokenizers give for English text."""
    return max(1, len(json.dumps(request)) // 4)


def uuid7(at_ns: int, rng: random.Random) -> UUID:
    """A UUIDv7 for a time, with its random bits drawn from ``rng`` (so seeds reproduce)."""
    value = (at_ns // MS & (1 << 48) - 1) << 80
    value |= 0x7 << 76 | rng.getrandbits(12) << 64
    value |= 0b10 << 62 | rng.getrandbits(62)
    return UUID(int=value)


# -- one run ------------------------------------------------------------------


def _question(rng: random.Random) -> str:
    return rng.choice(QUESTION_FORMS).format(topic=rng.choice(TOPICS))


def _planner_request(
    question: str, workspace: str, history: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": PLANNER_SYSTEM},
            {"role": "user", "content": f"Context: {workspace}"},
            {"role": "user", "content": question},
            *history,
        ],
        "tools": [tool.schema() for tool in PLANNER_TOOLS],
    }


def _summary_request(question: str, part: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": SUMMARY_SYSTEM},
            {"role": "user", "content": f"Results (part {part}) for: {question}"},
        ]
    }


def _answer_request(question: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": ANSWER_SYSTEM},
            {"role": "user", "content": ANSWER_EXAMPLE_QUESTION},
            {"role": "assistant", "content": ANSWER_EXAMPLE_ANSWER},
            {"role": "user", "content": question},
        ]
    }


def _tool_calls(tools: Iterable[Tool], question: str) -> list[dict[str, Any]]:
    return [
        {"id": f"call_{index}", "name": tool.name, "arguments": {"query": question}}
        for index, tool in enumerate(tools)
    ]


def _research_tools(rng: random.Random) -> list[Tool]:
    tools = [SEARCH_WEB, SEARCH_DOCS]
    if rng.random() < 0.6:
        tools.append(QUERY_DB)
    return tools


def _run_events(
    spec: WorkloadSpec, rng: random.Random, workflow_uuid: str, start_ns: int
) -> list[_Timed]:
    """One run: plan, fan out, maybe plan again, maybe dive deeper, summarize, answer."""
    run = _RunBuilder(rng, workflow_uuid)
    root = run.uuid_at(start_ns)
    run.scope("start", "agent", spec.agent_name, root, workflow_uuid, start_ns)
    question, workspace = _question(rng), rng.choice(WORKSPACES)
    now = start_ns + _millis(rng.uniform(0.5, 3.0))
    history: list[dict[str, Any]] = []
    for attempt in (1, 2):
        tools = _research_tools(rng)
        now = run.llm(
            "plan",
            PLANNER_MODEL,
            _planner_request(question, workspace, history),
            root,
            now,
            rng.randint(60, 160),
            _tool_calls(tools, question),
        )
        now = run.fan_out("research", tools, root, now + _millis(rng.uniform(1, 5)), question)
        if attempt == 2 or rng.random() >= REPLAN_RATE:
            break
        history = [{"role": "assistant", "content": "The results are thin; searching again."}]
    if rng.random() < DEEP_DIVE_RATE:
        now = run.fan_out(
            "deep_dive",
            (FETCH_PAGE, RANK_SOURCES),
            root,
            now + _millis(rng.uniform(1, 5)),
            question,
        )
    for part in range(1, rng.choice((1, 1, 2)) + 1):
        now = run.llm(
            "summarize",
            SUMMARY_MODEL,
            _summary_request(question, part),
            root,
            now + _millis(rng.uniform(1, 4)),
            rng.randint(120, 320),
        )
    now = run.llm(
        "answer",
        ANSWER_MODEL,
        _answer_request(question),
        root,
        now + _millis(rng.uniform(1, 4)),
        rng.randint(250, 700),
    )
    if rng.random() < REPORT_RATE:
        now = run.tool(WRITE_REPORT, root, now + _millis(rng.uniform(1, 4)), question)
    end_ns = now + _millis(rng.uniform(0.5, 3.0))
    run.scope(
        "end",
        "agent",
        spec.agent_name,
        root,
        workflow_uuid,
        end_ns,
        status="ERROR" if run.failed else "OK",
    )
    return sorted(run.events)


# -- the whole workload -------------------------------------------------------


def _burst_starts(spec: WorkloadSpec, rng: random.Random) -> list[int]:
    """Run start times: bursts of 1-3 runs a few hundred milliseconds apart."""
    first = spec.end_ns - spec.span_ns
    starts: list[int] = []
    while len(starts) < spec.runs:
        burst_at = first + rng.randrange(spec.span_ns - HOUR_NS)
        size = min(rng.choice((1, 1, 2, 3)), spec.runs - len(starts))
        starts.extend(burst_at + index * _millis(rng.uniform(100, 600)) for index in range(size))
    return sorted(starts)


def synthetic_events(spec: WorkloadSpec | None = None) -> Iterator[EventDict]:
    """The workload's events in timestamp order, overlapping runs interleaved."""
    spec = spec if spec is not None else WorkloadSpec()
    rng = random.Random(spec.seed)
    workflow_uuid = str(uuid7(spec.end_ns - spec.span_ns, rng))
    runs = [_run_events(spec, rng, workflow_uuid, start) for start in _burst_starts(spec, rng)]
    for timed in heapq.merge(*runs):
        yield timed.event


def write_jsonl(events: Iterable[EventDict], out: IO[bytes]) -> int:
    """Write events as ATOF JSONL; returns how many were written."""
    written = 0
    for event in events:
        out.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
        written += 1
    return written
