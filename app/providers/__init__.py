"""LLM providers: one async interface over the OpenAI and Anthropic SDKs."""

from __future__ import annotations

from app.providers.base import (
    Completion,
    Provider,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    Usage,
)
from app.providers.config import ModelPrice, ProviderConfig, load_provider_configs
from app.providers.pricing import cost_usd
from app.providers.registry import ProviderRegistry

__all__ = [
    "Completion",
    "ModelPrice",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderRegistry",
    "ProviderRejected",
    "ProviderUnavailable",
    "Usage",
    "cost_usd",
    "load_provider_configs",
]
