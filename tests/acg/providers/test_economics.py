"""Breakpoint planning: which boundaries of the stable prefix are worth a cache write."""

from __future__ import annotations

from adaptive.acg.prompt_ir import BlockContentType, PromptRole, ProvenanceLabel
from adaptive.acg.providers.capabilities import (
    ANTHROPIC_MODEL_FAMILIES,
    CacheEconomics,
    ModelFamily,
    anthropic_model_family,
)
from adaptive.acg.providers.economics import marginal_net_savings, plan_breakpoints
from adaptive.acg.providers.prefix import BlockSpec, block_spec
from adaptive.acg.stability import BlockStabilityScore, StabilityClass

SONNET_4 = ANTHROPIC_MODEL_FAMILIES["claude-sonnet-4"]  # 1024 tokens, 4 breakpoints
TOKENS = 4  # bytes per estimated token


def system(chars: int) -> BlockSpec:
    return block_spec("system", "text", "system", "s" * chars)


def tool(chars: int, name: str = "t") -> BlockSpec:
    return block_spec("system", BlockContentType.TOOL_SCHEMA.value, "system", "t" * chars, name)


def user(chars: int) -> BlockSpec:
    return block_spec(PromptRole.USER.value, "text", ProvenanceLabel.USER.value, "u" * chars)


def assistant(chars: int) -> BlockSpec:
    return block_spec("assistant", "text", "developer", "a" * chars)


def score(span: str, value: float = 1.0, confidence: float = 1.0) -> BlockStabilityScore:
    stable = StabilityClass.STABLE if value >= 0.95 else StabilityClass.SEMI_STABLE
    return BlockStabilityScore(
        span_id=span, classification=stable, score=value, confidence=confidence, observation_count=1
    )


def ends(blocks: list[BlockSpec], scores: list[BlockStabilityScore], count: int) -> list[int]:
    planned = plan_breakpoints(blocks, scores, len(scores), count, SONNET_4)
    return [breakpoint_.stable_prefix_end for breakpoint_ in planned]


def test_a_stable_scaffold_gets_one_breakpoint_after_its_last_tool() -> None:
    blocks = [system(5000), *(tool(600) for _ in range(10)), user(40)]
    scores = [score(f"b{i}") for i in range(11)]
    planned = plan_breakpoints(blocks, scores, 11, 30, SONNET_4)
    assert [p.stable_prefix_end for p in planned] == [11]
    tokens = 5000 // TOKENS + 10 * (600 // TOKENS)
    assert planned[0].cumulative_tokens == tokens
    assert planned[0].expected_reads == 29.0
    assert planned[0].expected_net_savings == tokens * (0.9 * 29.0 - 0.25)


def test_a_prefix_below_the_models_minimum_gets_none() -> None:
    blocks = [system(2000), tool(1000), user(40)]
    assert ends(blocks, [score("a"), score("b")], 30) == []  # 750 tokens < 1024
    haiku = anthropic_model_family("claude-haiku-4.5")
    assert haiku is not None and haiku.min_cacheable_tokens == 4096
    big = [system(12_000), tool(1000), user(40)]
    assert plan_breakpoints(big, [score("a"), score("b")], 2, 30, haiku) == []  # 3250 < 4096
    assert ends(big, [score("a"), score("b")], 30) == [2]


def test_the_expected_reads_must_pay_for_the_write() -> None:
    blocks = [system(8000), user(40)]
    # 2 observations: 1 reuse x confidence 2/20 = 0.1 reads, 0.9 x 0.1 < 0.25 write tax
    assert ends(blocks, [score("a", confidence=0.1)], 2) == []
    # 3 observations: 2 reuses x 0.15 = 0.3 reads, 0.27 > 0.25
    assert ends(blocks, [score("a", confidence=0.15)], 3) == [1]
    assert ends(blocks, [score("a")], 1) == []  # no reuse observed at all


def test_a_weaker_block_later_in_the_prefix_splits_it_into_two_breakpoints() -> None:
    blocks = [system(8000), user(4000), assistant(400), user(40)]
    scores = [score("s"), score("u", 0.95), score("a", 0.95)]
    assert ends(blocks, scores, 40) == [1, 3]


def test_equal_signals_give_a_single_breakpoint_at_the_end() -> None:
    blocks = [system(8000), user(4000), assistant(400), user(40)]
    assert ends(blocks, [score("s"), score("u"), score("a")], 40) == [3]


def test_at_most_four_breakpoints_even_when_more_would_pay() -> None:
    blocks = [system(8000)]
    scores = [score("s")]
    for depth in range(1, 7):
        blocks.append(user(2000) if depth % 2 else assistant(2000))
        scores.append(score(f"m{depth}", 1.0 - depth / 200))
    blocks.append(user(40))
    planned = ends(blocks, scores, 80)
    assert len(planned) == 4
    assert planned[-1] == 7  # the end of the prefix is always worth the most
    roomier = ModelFamily("roomier", 1024, max_cache_breakpoints=8)
    assert len(plan_breakpoints(blocks, scores, len(scores), 80, roomier)) > 4


def test_inside_a_run_of_tools_only_the_tool_crossing_the_minimum_is_a_boundary() -> None:
    weak = 0.97
    blocks = [system(400), *(tool(1000, f"t{i}") for i in range(6)), user(40)]
    # 100 + 250 per tool: t3 (block 5) crosses 1024 tokens, t5 ends the run (block 7);
    # t4 is inside the run, so a dip at t4 makes only the crossing worth a second write
    scores = [score("s"), score("t0"), score("t1"), score("t2"), score("t3")]
    scores += [score("t4", weak), score("t5", weak)]
    assert ends(blocks, scores, 80) == [5, 7]
    scores[1] = score("t0", weak)  # a dip before the crossing: one breakpoint, at the end
    assert ends(blocks, scores, 80) == [7]


def test_a_block_that_is_not_stable_ends_what_can_be_cached() -> None:
    blocks = [system(8000), user(8000), user(40)]
    assert ends(blocks, [score("s"), score("u", 0.9)], 40) == [1]


def test_savings_follow_the_price_multipliers() -> None:
    economics = CacheEconomics()
    assert marginal_net_savings(economics, 1000, 1.0) == 1000 * (0.9 * 1.0 - 0.25)
    assert marginal_net_savings(economics, 1000, 0.2) < 0


def test_model_names_resolve_to_families_literally() -> None:
    def family(model: str) -> str | None:
        resolved = anthropic_model_family(model)
        return None if resolved is None else resolved.name

    assert family("claude-opus-4.6") == "claude-opus-4.6"
    assert family("claude-opus-4-6") == "claude-opus-4"
    assert family("claude-sonnet-4-5-20250929") == "claude-sonnet-4"
    assert family("claude-3-opus-20240229") == "claude-3-opus"
    assert family("claude-haiku-4.5-latest") == "claude-haiku-4.5"
    assert family("claude-3-5-sonnet-20241022") is None
    assert family("claude-haiku-4-5") is None
    assert family("gpt-4o") is None
    minimums = {name: f.min_cacheable_tokens for name, f in ANTHROPIC_MODEL_FAMILIES.items()}
    assert sorted(set(minimums.values())) == [1024, 2048, 4096]
    assert all(f.max_cache_breakpoints == 4 for f in ANTHROPIC_MODEL_FAMILIES.values())
