"""The provider interface: what a completion returns and how a provider call fails."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx2

from app.errors import ErrorCode, LTBError

MAX_TOKEN_COUNT = 2**31 - 1


@dataclass(frozen=True)
class Usage:
    """Token counts of one completion, as the provider reported them."""

    prompt_tokens: int
    completion_tokens: int
    # The part of prompt_tokens served from the provider's prompt cache.
    cached_prompt_tokens: int = 0
    # False when the provider reported no usage: the counts are 0 for want of
    # any, and what they would cost is unknown (cost_usd gives None).
    reported: bool = True

    def __post_init__(self) -> None:
        # Counts come from the wire: a string, a float or 10**30 must not reach
        # the cost arithmetic or the database (which stores 32-bit integers).
        for name in ("prompt_tokens", "completion_tokens", "cached_prompt_tokens"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= MAX_TOKEN_COUNT:
                raise ValueError(f"usage.{name} is not a token count: {value!r:.40}")

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    """The outcome of one successful provider call."""

    # "" when the model returned no content (e.g. it stopped at max_tokens).
    text: str
    model: str
    usage: Usage
    finish_reason: str | None
    # Wall time of the call, retries included, queueing for a slot excluded.
    latency_ms: float


class ProviderError(LTBError):
    """A provider could not produce a completion; details always name the provider."""

    code = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        details: Mapping[str, Any] | None = None,
        code: ErrorCode | None = None,
    ) -> None:
        super().__init__(
            message, details={"provider": provider, **(details or {})}, code=code
        )
        self.provider = provider


class ProviderUnavailable(ProviderError):
    """The provider is not configured, unreachable, too slow, overloaded or failing."""

    code = ErrorCode.SERVICE_UNAVAILABLE


class ProviderRejected(ProviderError):
    """The provider refused the request itself (bad model, bad parameters, bad key)."""

    code = ErrorCode.BAD_REQUEST


class Provider(Protocol):
    """An LLM provider the engine can ask for completions."""

    name: str

    async def complete(
        self,
        model: str,
        prompt: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        system: str | None = None,
    ) -> Completion:
        """Return the model's completion of prompt, or raise ProviderError."""
        ...

    async def aclose(self) -> None:
        """Release the provider's HTTP connections."""
        ...


def connection_limits(max_concurrency: int) -> httpx2.Limits:
    """An SDK client's pool: a connection kept alive for every call that may run."""
    # The SDKs keep at most 100 idle connections: above 100 concurrent calls, each
    # call beyond them closed its connection and the next one opened a new one.
    return httpx2.Limits(
        max_connections=max(max_concurrency, 100),
        max_keepalive_connections=max_concurrency,
    )
