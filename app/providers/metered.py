"""A provider that counts its calls, tokens and cost in the Prometheus metrics.

The registry hands out every provider wrapped in one of these, so completions,
benchmark cells and judges are all counted, by the same rules, in one place.
"""

from __future__ import annotations

import time

from app.errors import ErrorCode
from app.observability import metrics
from app.observability.metrics import series
from app.providers.base import Completion, Provider, ProviderError
from app.providers.config import ProviderConfig
from app.providers.pricing import cost_usd


class MeteredProvider:
    """Wraps a provider; every call is counted, and its usage and cost added up."""

    def __init__(self, provider: Provider, config: ProviderConfig) -> None:
        self.name = provider.name
        self._provider = provider
        self._config = config

    async def complete(
        self,
        model: str,
        prompt: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        system: str | None = None,
    ) -> Completion:
        """Ask the wrapped provider, counting the call whatever its outcome."""
        # Clients choose the model name: only the models of the providers file
        # become label values, so no request can create new time series.
        label = model if model in self._config.models else metrics.OTHER
        started = time.perf_counter()
        outcome = "error"
        try:
            completion = await self._provider.complete(
                model,
                prompt,
                max_tokens=max_tokens,
                temperature=temperature,
                system=system,
            )
            outcome = "ok"
        except ProviderError as exc:
            # The provider refused the request itself, or could not answer it.
            rejected = exc.code == ErrorCode.BAD_REQUEST
            outcome = "rejected" if rejected else "unavailable"
            raise
        finally:
            series(metrics.PROVIDER_CALLS, self.name, label, outcome).inc()
            series(metrics.PROVIDER_CALL_DURATION, self.name, label).observe(
                time.perf_counter() - started
            )

        usage = completion.usage
        tokens = metrics.PROVIDER_TOKENS
        series(tokens, self.name, label, "prompt").inc(usage.prompt_tokens)
        series(tokens, self.name, label, "completion").inc(usage.completion_tokens)
        cost = cost_usd(self._config.models.get(model), usage)
        if cost is not None:
            series(metrics.PROVIDER_COST, self.name, label).inc(cost)
        return completion

    async def aclose(self) -> None:
        """Release the wrapped provider's connections."""
        await self._provider.aclose()
