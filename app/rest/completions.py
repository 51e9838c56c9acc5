"""POST /v1/completions."""

from __future__ import annotations

from typing import Any

from app.completions import create_completion as complete
from app.errors import BadRequest
from app.rest.context import request_id, runtime


def create_completion(body: dict[str, Any]) -> dict[str, Any]:
    """Call the named provider for real and return its completion and usage."""
    rt = runtime()
    rt.providers.config(body["provider"])  # unknown provider: 400 before any I/O
    limit = rt.settings.max_prompt_chars
    if len(body["prompt"]) > limit:
        raise BadRequest(
            f"prompt is longer than {limit} characters",
            details={"errors": [{"field": "prompt", "message": "too long"}]},
        )
    return rt.call(
        complete(
            rt.providers,
            body["provider"],
            body["model"],
            body["prompt"],
            body.get("max_tokens"),
            body.get("temperature"),
            request_id(),
        )
    )
