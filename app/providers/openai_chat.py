"""Providers that speak OpenAI chat completions: OpenAI and compatible servers."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

from app.providers import failures
from app.providers.base import Completion, ProviderError, Usage, connection_limits
from app.providers.config import ProviderConfig

logger = logging.getLogger(__name__)

# The SDK refuses an empty key, and without one it would fall back to OPENAI_API_KEY
# and send the real key to a local server. Keyless servers ignore this value.
KEYLESS_PLACEHOLDER = "no-key-required"

# The host of OpenAI's own API (the SDK's default base_url).
OPENAI_HOST = "api.openai.com"

# Headers in which the SDK describes itself (language, OS, versions, retry count,
# read timeout) on every call. No server needs them to answer, and building them is
# about a tenth of the CPU of a call (bench/provider_calls.py); openai.omit in a
# call's headers is the SDK's way to leave one out.
_PER_CALL_OPTIONS: openai.RequestOptions = {
    "headers": {
        name: openai.omit
        for name in (
            "X-Stainless-Lang",
            "X-Stainless-Package-Version",
            "X-Stainless-OS",
            "X-Stainless-Arch",
            "X-Stainless-Runtime",
            "X-Stainless-Runtime-Version",
            "X-Stainless-Async",
            "X-Stainless-Retry-Count",
            "X-Stainless-Read-Timeout",
        )
    }
}


def token_limit_field(config: ProviderConfig) -> str:
    """Name the request field that caps completion tokens for this endpoint."""
    # OpenAI itself deprecated max_tokens and rejects it for reasoning models;
    # compatible servers (llama.cpp, vLLM, Ollama, ...) all understand max_tokens.
    if config.base_url is None or urlsplit(config.base_url).hostname == OPENAI_HOST:
        return "max_completion_tokens"
    return "max_tokens"


class OpenAIChatProvider:
    """A provider reached through the official openai SDK's chat completions."""

    def __init__(self, config: ProviderConfig, api_key: str | None) -> None:
        self.name = config.name
        self._config = config
        self._secret = api_key
        self._client = openai.AsyncOpenAI(
            api_key=api_key or KEYLESS_PLACEHOLDER,
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
            # The SDK's aiohttp transport: half the CPU per call of its default
            # (httpx), which bounds how many calls per second a worker can make.
            http_client=openai.DefaultAioHttpClient(
                limits=connection_limits(config.max_concurrency)
            ),
        )
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._limit_field = token_limit_field(config)
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
        """Ask the model for a chat completion of prompt."""
        messages: list[ChatCompletionMessageParam] = []
        if system is not None:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": prompt})
        body: dict[str, object] = {"model": model, "messages": messages}
        if max_tokens is not None:
            body[self._limit_field] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        async with self._slots:
            started = time.perf_counter()
            try:
                # The SDK's request path for any endpoint (its README's
                # "undocumented endpoints"): its retries, timeouts and status
                # errors, without chat.completions.create's transformation of the
                # parameters through their type hints nor the pydantic model built
                # from the reply. The body is already in the wire's form, and the
                # few reply fields we read are read below. Together a third of
                # the CPU of a call (bench/provider_calls.py).
                response = await self._client.post(
                    "/chat/completions",
                    body=body,
                    cast_to=httpx2.Response,
                    options=_PER_CALL_OPTIONS,
                )
                reply = json.loads(response.content)
            except openai.OpenAIError as exc:
                raise self._failure(exc) from _cause_to_keep(exc)
            except ValueError as exc:  # a 200 whose body is not JSON
                raise failures.unusable_reply(self.name, exc) from None
            latency_ms = (time.perf_counter() - started) * 1000
        try:
            return self._completion(model, reply, latency_ms)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise failures.unusable_reply(self.name, exc) from None

    async def aclose(self) -> None:
        """Close the SDK client and its connection pool."""
        await self._client.close()

    def _completion(
        self, requested_model: str, reply: Any, latency_ms: float
    ) -> Completion:
        """Turn a chat completion's JSON into a Completion."""
        if not isinstance(reply, dict):
            raise failures.invalid_response(self.name, "the reply is not an object")
        choices = reply.get("choices")
        if not choices or not isinstance(choices, list):
            raise failures.invalid_response(self.name, "no choices in the reply")
        choice = _object(choices[0])
        content = _object(choice.get("message")).get("content")
        model = reply.get("model")
        finish_reason = choice.get("finish_reason")
        return Completion(
            # content is null when the model produced nothing, e.g. it hit the limit.
            text=content if isinstance(content, str) else "",
            model=model if isinstance(model, str) and model else requested_model,
            usage=self._usage(reply.get("usage")),
            finish_reason=finish_reason if isinstance(finish_reason, str) else None,
            latency_ms=latency_ms,
        )

    def _usage(self, reported: Any) -> Usage:
        """Read token counts; a server that reports none counts as zero tokens."""
        if reported is None:
            # Some compatible servers omit usage; failing the call would lose a good
            # completion, so the counts stay 0, the cost is unknown (not free: it
            # must not look cheapest) and the operator hears about it once.
            if not self._warned_no_usage:
                self._warned_no_usage = True
                logger.warning(
                    "provider %s reports no token usage; counting 0 tokens at an "
                    "unknown cost",
                    self.name,
                )
            return Usage(prompt_tokens=0, completion_tokens=0, reported=False)
        reported = _object(reported)
        prompt = _count(reported.get("prompt_tokens"))
        cached = _count(
            _object(reported.get("prompt_tokens_details")).get("cached_tokens")
        )
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=_count(reported.get("completion_tokens")),
            cached_prompt_tokens=min(cached, prompt),
        )

    def _failure(self, exc: openai.OpenAIError) -> ProviderError:
        """Translate an SDK exception, raised after the SDK's own retries."""
        if isinstance(exc, openai.APIStatusError):
            error = failures.from_status(
                self.name, exc.status_code, exc.body, self._secret
            )
        elif isinstance(exc, openai.APIConnectionError):
            error = failures.unreachable(
                self.name,
                timed_out=isinstance(exc, openai.APITimeoutError)
                and not _connection_lost(exc),
                timeout_s=self._config.timeout_s,
                cause=exc,
                attempts=self._config.max_retries + 1,
            )
        else:
            error = failures.invalid_response(self.name, type(exc).__name__)
        return failures.logged(error)


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of the reply; null or absent reads as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _count(value: Any) -> int:
    """A token count of the reply; null or absent is 0."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"a token count is {value!r}, not a whole number")
    return value


def _connection_lost(exc: BaseException) -> bool:
    """Whether a connection failure was a refusal or a hang-up, not a timeout."""
    # The SDK's aiohttp transport maps every aiohttp connection error, a refused
    # connection or a server that closed it without answering included, to a
    # timeout; the aiohttp error is its cause.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, aiohttp.ServerDisconnectedError):
            return True
        if isinstance(cause, aiohttp.ClientConnectorError) and not isinstance(
            cause, aiohttp.ConnectionTimeoutError
        ):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _cause_to_keep(exc: openai.OpenAIError) -> BaseException | None:
    """Chain transport errors; drop status errors, whose text quotes the body."""
    # An upstream body can echo the API key back; the useful parts of it are
    # already in the ProviderError's details, redacted.
    return None if isinstance(exc, openai.APIStatusError) else exc
