"""The /v1/evaluators resource: the registered metrics."""

from __future__ import annotations

from typing import Any

from app.rest.context import runtime
from app.rest.pagination import offset_of, page_of


def list_evaluators(page: int = 1, page_size: int = 20) -> dict[str, Any]:
    """Every registered metric's declaration, by name."""
    described = runtime().evaluators.describe()
    start = offset_of(page, page_size)
    return page_of(
        described[start : start + page_size], len(described), page, page_size
    )
