"""GET /v1/providers."""

from __future__ import annotations

from typing import Any

from app.rest.context import runtime
from app.rest.pagination import offset_of, page_of


def list_providers(page: int = 1, page_size: int = 20) -> dict[str, Any]:
    """Configured providers, their credentials' presence and model prices."""
    providers = runtime().providers.describe()
    start = offset_of(page, page_size)
    return page_of(
        providers[start : start + page_size], len(providers), page, page_size
    )
