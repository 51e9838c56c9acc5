"""Both kinds' wire formats, and calls through a one-provider registry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from app.providers import (
    Completion,
    ModelPrice,
    ProviderConfig,
    ProviderError,
    ProviderRegistry,
)

if TYPE_CHECKING:
    from tests.unit.providers.conftest import FakeUpstream

    Start = Callable[..., FakeUpstream]

KEY = "sk-test-VERY-SECRET-0123456789"
PRICE = ModelPrice(input_per_mtok=2.0, output_per_mtok=8.0, cached_input_per_mtok=0.5)


@dataclass(frozen=True)
class Wire:
    """What one provider kind looks like on the wire."""

    kind: str
    path: str

    def base_url(self, server_url: str) -> str:
        """The base_url a user would configure for a server at server_url."""
        return f"{server_url}/v1" if self.kind == "openai" else server_url

    def success(
        self, text: str, *, prompt: int, completion: int, cached: int
    ) -> dict[str, Any]:
        """A successful reply; prompt counts every prompt token, cached included."""
        if self.kind == "openai":
            return {"json": openai_body(text, "stop", prompt, completion, cached)}
        # Anthropic splits the prompt: uncached input, cache reads, cache writes.
        cache_write = 50
        usage = {
            "input_tokens": prompt - cached - cache_write,
            "output_tokens": completion,
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": cache_write,
        }
        return {"json": anthropic_body([text_block(text)], "end_turn", usage)}

    def empty(self) -> dict[str, Any]:
        """A reply with no content because the token limit was hit at once."""
        if self.kind == "openai":
            return {"json": openai_body(None, "length", 12, 0, 0)}
        usage = {"input_tokens": 12, "output_tokens": 0}
        return {"json": anthropic_body([], "max_tokens", usage)}

    def error(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """An error reply in the provider's error shape."""
        if self.kind == "openai":
            body: dict[str, Any] = {
                "error": {"message": message, "type": "invalid_request_error"}
            }
        else:
            body = {"type": "error", "error": {"type": "api_error", "message": message}}
        return {"status": status, "json": body, "headers": headers or {}}

    def key_sent(self, server: FakeUpstream) -> str | None:
        """The API key the server received with the first request."""
        headers = server.seen[0].headers
        # anthropic 2.x sends the key as a bearer token, as openai does; older
        # releases used x-api-key.
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        return bearer or headers.get("x-api-key")


def openai_body(
    content: str | None, finish: str, prompt: int, completion: int, cached: int
) -> dict[str, Any]:
    """An OpenAI chat.completion object."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "m-1-2025-01-01",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def anthropic_body(
    content: list[dict[str, Any]], stop: str, usage: dict[str, int]
) -> dict[str, Any]:
    """An Anthropic message object."""
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m-1-2025-01-01",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def text_block(text: str) -> dict[str, Any]:
    """An Anthropic text content block."""
    return {"type": "text", "text": text}


WIRES = [
    pytest.param(Wire("openai", "/v1/chat/completions"), id="openai"),
    pytest.param(Wire("anthropic", "/v1/messages"), id="anthropic"),
]


def registry_for(
    wire: Wire, base_url: str, *, key: str | None = KEY, **overrides: Any
) -> ProviderRegistry:
    """A registry with one provider, "fake", of wire's kind at base_url."""
    settings: dict[str, Any] = {"timeout_s": 5.0, "max_retries": 2, **overrides}
    config = ProviderConfig(
        name="fake",
        kind=wire.kind,
        base_url=base_url,
        api_key_env=None if key is None else "FAKE_API_KEY",
        models={"m-1": PRICE},
        **settings,
    )
    environ = {} if key is None else {"FAKE_API_KEY": key}
    return ProviderRegistry({"fake": config}, environ)


def complete_once(
    wire: Wire, server: FakeUpstream, *, key: str | None = KEY, **overrides: Any
) -> Completion:
    """Make one completion call against server through a fresh registry."""
    call_options = {
        name: overrides.pop(name)
        for name in ("max_tokens", "temperature", "system")
        if name in overrides
    }
    registry = registry_for(wire, wire.base_url(server.url), key=key, **overrides)

    async def call() -> Completion:
        try:
            return await registry.get("fake").complete("m-1", "Hi", **call_options)
        finally:
            await registry.aclose()

    return asyncio.run(call())


def failure_of(wire: Wire, server: FakeUpstream, **overrides: Any) -> ProviderError:
    """Make one call that must fail, and return its ProviderError."""
    with pytest.raises(ProviderError) as caught:
        complete_once(wire, server, **overrides)
    return caught.value
