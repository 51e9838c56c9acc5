"""The one pricing function: every cost figure in the product comes from here."""

from __future__ import annotations

from app.providers.base import Usage
from app.providers.config import ModelPrice

TOKENS_PER_PRICE_UNIT = 1_000_000


def cost_usd(price: ModelPrice | None, usage: Usage) -> float | None:
    """Return the USD cost of usage at price; None when the price is unknown, or
    the usage (a provider that reports none: not free, unknown)."""
    if price is None or not usage.reported:
        return None
    prompt = max(usage.prompt_tokens, 0)
    # Cached tokens are a part of the prompt: clamping keeps a provider that reports
    # more cached than prompt tokens from billing any token twice.
    cached = min(max(usage.cached_prompt_tokens, 0), prompt)
    uncached = prompt - cached
    completion = max(usage.completion_tokens, 0)
    cached_rate = (
        price.input_per_mtok
        if price.cached_input_per_mtok is None
        else price.cached_input_per_mtok
    )
    total = (
        uncached * price.input_per_mtok
        + cached * cached_rate
        + completion * price.output_per_mtok
    )
    return total / TOKENS_PER_PRICE_UNIT
