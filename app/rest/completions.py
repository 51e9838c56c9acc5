"""POST /v1/completions."""

from __future__ import annotations

from typing import Any

from app.completions import check_request
from app.completions import create_completion as complete
from app.rest.context import request_id, runtime


def create_completion(body: dict[str, Any]) -> dict[str, Any]:
    """Call the named provider for real and return its completion and usage."""
    rt = runtime()
    check_request(
        rt.providers, body["provider"], body["prompt"], rt.settings.max_prompt_chars
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
