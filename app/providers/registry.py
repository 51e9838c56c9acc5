"""The registry of configured providers: lookup, description, prices and clients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from app.errors import BadRequest, ConfigurationError
from app.providers import failures
from app.providers.anthropic_messages import AnthropicMessagesProvider
from app.providers.base import Provider
from app.providers.config import ModelPrice, ProviderConfig
from app.providers.limiter import LimitedProvider, SharedSlots
from app.providers.metered import MeteredProvider
from app.providers.openai_chat import OpenAIChatProvider

logger = logging.getLogger(__name__)

_FACTORIES: dict[str, Callable[[ProviderConfig, str | None], Provider]] = {
    "openai": OpenAIChatProvider,
    "anthropic": AnthropicMessagesProvider,
}


class ProviderRegistry:
    """The providers of one process; each client is created once and reused."""

    def __init__(
        self,
        configs: dict[str, ProviderConfig],
        environ: Mapping[str, str],
        shared_slots: SharedSlots | None = None,
    ) -> None:
        unknown = sorted(c.name for c in configs.values() if c.kind not in _FACTORIES)
        if unknown:
            raise ConfigurationError(
                f"providers of unknown kind: {', '.join(unknown)}",
                details={"providers": unknown},
            )
        self._configs = dict(configs)
        self._environ = environ
        self._providers: dict[str, Provider] = {}
        # With Redis, max_concurrency holds across every process (limiter.py).
        self._shared_slots = shared_slots
        # The clients' connection pools belong to the loop that created them.
        self._loop: asyncio.AbstractEventLoop | None = None

    def names(self) -> list[str]:
        """Return the names of the configured providers, sorted."""
        return sorted(self._configs)

    def config(self, name: str) -> ProviderConfig:
        """Return the configuration of provider name; BadRequest if it is unknown."""
        config = self._configs.get(name)
        if config is None:
            known = self.names()
            raise BadRequest(
                f"Unknown provider '{name}'; known providers: {', '.join(known)}",
                details={"provider": name, "known_providers": known},
            )
        return config

    def is_configured(self, name: str) -> bool:
        """Tell whether provider name has the key it needs (or needs none)."""
        config = self.config(name)
        return config.api_key_env is None or self._api_key(config) is not None

    def describe(self) -> list[dict[str, Any]]:
        """Describe every provider for GET /v1/providers; never includes a key."""
        return [self._describe(self._configs[name]) for name in self.names()]

    def price(self, provider: str, model: str) -> ModelPrice | None:
        """Return the price of model at provider, or None if either is unknown."""
        config = self._configs.get(provider)
        return None if config is None else config.models.get(model)

    def get(self, name: str) -> Provider:
        """Return the provider's client, creating it on first use in this loop."""
        config = self.config(name)
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError(
                "ProviderRegistry.get() was called from a different event loop than "
                "the one its clients were created in"
            )
        provider = self._providers.get(name)
        if provider is None:
            api_key = self._api_key(config)
            if api_key is None and config.api_key_env is not None:
                raise failures.missing_key(name, config.api_key_env)
            provider = MeteredProvider(_FACTORIES[config.kind](config, api_key), config)
            if self._shared_slots is not None:
                # Outside the meter: waiting for a shared slot is not a call.
                provider = LimitedProvider(
                    provider, self._shared_slots, config.max_concurrency
                )
            self._providers[name] = provider
            self._loop = loop
            logger.info("created client for provider %s (%s)", name, config.kind)
        return provider

    async def aclose(self) -> None:
        """Close every client created so far; the registry can create them again."""
        providers, self._providers = list(self._providers.values()), {}
        self._loop = None
        for provider in providers:
            await provider.aclose()
        if self._shared_slots is not None:
            await self._shared_slots.aclose()

    def _api_key(self, config: ProviderConfig) -> str | None:
        """Return the provider's key from the environment, or None if unset/empty."""
        if config.api_key_env is None:
            return None
        return self._environ.get(config.api_key_env, "").strip() or None

    def _describe(self, config: ProviderConfig) -> dict[str, Any]:
        """Describe one provider and the prices of its known models."""
        return {
            "name": config.name,
            "kind": config.kind,
            "base_url": config.base_url,
            "configured": self.is_configured(config.name),
            "models": [
                {
                    "name": model,
                    "input_per_mtok": price.input_per_mtok,
                    "output_per_mtok": price.output_per_mtok,
                    "cached_input_per_mtok": price.cached_input_per_mtok,
                }
                for model, price in sorted(config.models.items())
            ],
        }
