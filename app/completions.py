"""One completion from a configured provider (the service of POST /v1/completions)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.errors import BadRequest
from app.providers.pricing import cost_usd
from app.providers.registry import ProviderRegistry


def check_request(
    providers: ProviderRegistry, provider: str, prompt: str, max_prompt_chars: int
) -> None:
    """Refuse an unknown provider or an overlong prompt before any I/O."""
    providers.config(provider)  # raises BadRequest for an unknown provider
    if len(prompt) > max_prompt_chars:
        raise BadRequest(
            f"prompt is longer than {max_prompt_chars} characters",
            details={"errors": [{"field": "prompt", "message": "too long"}]},
        )


async def create_completion(
    providers: ProviderRegistry,
    provider: str,
    model: str,
    prompt: str,
    max_tokens: int | None,
    temperature: float | None,
    request_id: str,
) -> dict[str, Any]:
    """Call the provider for real and describe the result in the API's shape."""
    client = providers.get(provider)
    completion = await client.complete(
        model, prompt, max_tokens=max_tokens, temperature=temperature
    )
    usage = completion.usage
    return {
        "text": completion.text,
        "model": completion.model,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cached_prompt_tokens": usage.cached_prompt_tokens,
        },
        "finish_reason": completion.finish_reason,
        "latency_ms": round(completion.latency_ms, 3),
        "cost_usd": cost_usd(providers.price(provider, model), usage),
        "request_id": request_id,
        "created_at": datetime.now(UTC),
    }
