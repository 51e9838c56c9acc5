"""The one pricing function, checked against hand-computed figures."""

from __future__ import annotations

import pytest

from app.providers import ModelPrice, Usage, cost_usd
from app.providers.config import builtin_provider_configs

GPT_4O = ModelPrice(
    input_per_mtok=2.50, output_per_mtok=10.00, cached_input_per_mtok=1.25
)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        # 1M uncached prompt tokens at $2.50 + 1M completion tokens at $10.
        (Usage(1_000_000, 1_000_000), 12.50),
        # 1000 prompt tokens of which 400 cached: 600 * 2.50 + 400 * 1.25 + 0.
        (Usage(1000, 0, cached_prompt_tokens=400), 0.002),
        # All 2000 prompt tokens cached, 100 completion: 2000 * 1.25 + 100 * 10.
        (Usage(2000, 100, cached_prompt_tokens=2000), 0.0035),
        (Usage(0, 0), 0.0),
    ],
)
def test_cost_matches_hand_computed_figures(usage: Usage, expected: float) -> None:
    assert cost_usd(GPT_4O, usage) == pytest.approx(expected)


def test_cached_tokens_are_billed_at_the_cached_price_and_never_twice() -> None:
    uncached_only = cost_usd(GPT_4O, Usage(1000, 0))
    half_cached = cost_usd(GPT_4O, Usage(1000, 0, cached_prompt_tokens=500))

    assert uncached_only == pytest.approx(0.0025)
    # 500 tokens move from $2.50 to $1.25 per million: $0.000625 less, not more.
    assert half_cached == pytest.approx(0.0025 - 0.000625)


def test_cached_tokens_fall_back_to_the_input_price_without_a_cached_price() -> None:
    gpt_4 = ModelPrice(input_per_mtok=30.0, output_per_mtok=60.0)

    assert cost_usd(gpt_4, Usage(1000, 10, cached_prompt_tokens=600)) == (
        pytest.approx(1000 * 30.0 / 1e6 + 10 * 60.0 / 1e6)
    )


def test_more_cached_than_prompt_tokens_never_bills_a_token_twice() -> None:
    # A misreporting server: 900 cached out of 500 prompt tokens.
    assert cost_usd(GPT_4O, Usage(500, 0, cached_prompt_tokens=900)) == (
        pytest.approx(500 * 1.25 / 1e6)
    )


def test_an_unknown_price_gives_no_cost() -> None:
    assert cost_usd(None, Usage(1000, 1000)) is None


def test_a_free_model_costs_zero_not_none() -> None:
    free = ModelPrice(input_per_mtok=0.0, output_per_mtok=0.0)

    assert cost_usd(free, Usage(1000, 1000)) == 0.0


def test_total_tokens_is_prompt_plus_completion() -> None:
    assert Usage(1200, 50, cached_prompt_tokens=1000).total_tokens == 1250


def test_the_built_in_price_table_prices_a_claude_call_with_cache_hits() -> None:
    price = builtin_provider_configs({})["anthropic"].models[
        "claude-3-5-haiku-20241022"
    ]

    # 10_000 prompt tokens, 8_000 of them cache reads, 1_000 output tokens:
    # 2_000 * 0.80 + 8_000 * 0.08 + 1_000 * 4.00 = 1600 + 640 + 4000 micro-dollars.
    usage = Usage(10_000, 1_000, cached_prompt_tokens=8_000)
    assert cost_usd(price, usage) == pytest.approx(0.00624)
