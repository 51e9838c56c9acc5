"""Providers that speak the Anthropic Messages API through the official SDK."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Mapping

import anthropic
import httpx2
from anthropic.types import Message, TextBlock
from anthropic.types import Usage as AnthropicUsage

from app.providers import failures
from app.providers.base import Completion, ProviderError, Usage, connection_limits
from app.providers.config import ProviderConfig

logger = logging.getLogger(__name__)

# The Messages API requires max_tokens; this is the cap when the caller sets none.
DEFAULT_MAX_TOKENS = 1024

# The openai SDK refuses to wait longer than this for a Retry-After; the anthropic
# SDK would wait for any delay (up to ~50 days). Both kinds get the openai ceiling.
MAX_RETRY_AFTER_S = 120.0

# Without an explicit key the SDK searches ANTHROPIC_API_KEY, profiles and workload
# identity; a keyless provider must not pick up a real key that way.
KEYLESS_PLACEHOLDER = "no-key-required"


class AnthropicMessagesProvider:
    """A provider reached through the official anthropic SDK's messages API."""

    def __init__(self, config: ProviderConfig, api_key: str | None) -> None:
        self.name = config.name
        self._config = config
        self._secret = api_key
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key or KEYLESS_PLACEHOLDER,
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
            http_client=anthropic.DefaultAsyncHttpxClient(
                event_hooks={"response": [refuse_long_retry_after]},
                limits=connection_limits(config.max_concurrency),
            ),
        )
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._warned_no_usage = False

    async def complete(
        self,
        model: str,
        prompt: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        system: str | None = None,
    ) -> Completion:
        """Ask the model for a message in reply to prompt."""
        # SDK 1.0 dropped the sampling arguments from create() (its MIGRATION.md says
        # to send them in extra_body); the API still takes them for older models.
        sampling = None if temperature is None else {"temperature": temperature}
        async with self._slots:
            started = time.perf_counter()
            try:
                response = await self._client.messages.create(
                    model=model,
                    max_tokens=DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
                    messages=[{"role": "user", "content": prompt}],
                    system=anthropic.omit if system is None else system,
                    extra_body=sampling,
                )
            except anthropic.AnthropicError as exc:
                raise self._failure(exc) from _cause_to_keep(exc)
            except ValueError as exc:  # a 200 whose body is not JSON
                raise failures.unusable_reply(self.name, exc) from None
            latency_ms = (time.perf_counter() - started) * 1000
        try:
            return self._completion(model, response, latency_ms)
        except (ValueError, TypeError, AttributeError) as exc:
            raise failures.unusable_reply(self.name, exc) from None

    async def aclose(self) -> None:
        """Close the SDK client and its connection pool."""
        await self._client.close()

    def _completion(
        self, requested_model: str, response: Message, latency_ms: float
    ) -> Completion:
        """Turn the SDK's message into a Completion."""
        blocks = getattr(response, "content", None) or []
        return Completion(
            # Only text blocks are the answer; thinking or tool blocks are not.
            text="".join(
                block.text for block in blocks if isinstance(block, TextBlock)
            ),
            model=getattr(response, "model", None) or requested_model,
            usage=self._usage(getattr(response, "usage", None)),
            finish_reason=getattr(response, "stop_reason", None),
            latency_ms=latency_ms,
        )

    def _usage(self, reported: AnthropicUsage | None) -> Usage:
        """Count every prompt token: uncached input, cache reads and cache writes."""
        if reported is None:
            # Anthropic always reports usage; a look-alike server may not. As for
            # OpenAI-compatible servers: the counts stay 0 and the operator hears once.
            if not self._warned_no_usage:
                self._warned_no_usage = True
                logger.warning(
                    "provider %s reports no token usage; counting 0 tokens at an "
                    "unknown cost",
                    self.name,
                )
            return Usage(prompt_tokens=0, completion_tokens=0, reported=False)
        cache_read = reported.cache_read_input_tokens or 0
        cache_write = reported.cache_creation_input_tokens or 0
        return Usage(
            prompt_tokens=(reported.input_tokens or 0) + cache_read + cache_write,
            completion_tokens=reported.output_tokens or 0,
            cached_prompt_tokens=cache_read,
        )

    def _failure(self, exc: anthropic.AnthropicError) -> ProviderError:
        """Translate an SDK exception, raised after the SDK's own retries."""
        if isinstance(exc, anthropic.APIStatusError):
            error = failures.from_status(
                self.name, exc.status_code, exc.body, self._secret
            )
        elif isinstance(exc, anthropic.APIConnectionError):
            error = failures.unreachable(
                self.name,
                timed_out=isinstance(exc, anthropic.APITimeoutError),
                timeout_s=self._config.timeout_s,
                cause=exc,
                attempts=self._config.max_retries + 1,
            )
        else:
            error = failures.invalid_response(self.name, type(exc).__name__)
        return failures.logged(error)


async def refuse_long_retry_after(response: httpx2.Response) -> None:
    """Tell the SDK not to retry a reply that asks for more than MAX_RETRY_AFTER_S."""
    if response.status_code < 400:
        return
    delay = retry_after_seconds(response.headers)
    if delay is not None and delay > MAX_RETRY_AFTER_S:
        # x-should-retry is the SDK's own switch, checked before status and delay.
        response.headers["x-should-retry"] = "false"


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Read the delay the anthropic SDK would honour, in its order of preference."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) / scale
        except ValueError:
            continue
    value = headers.get("retry-after")
    date = email.utils.parsedate_tz(value) if value is not None else None
    if date is None:
        return None
    return float(email.utils.mktime_tz(date) - time.time())


def _cause_to_keep(exc: anthropic.AnthropicError) -> BaseException | None:
    """Chain transport errors; drop status errors, whose text quotes the body."""
    # An upstream body can echo the API key back; the useful parts of it are
    # already in the ProviderError's details, redacted.
    return None if isinstance(exc, anthropic.APIStatusError) else exc
