"""The page shape every list endpoint returns."""

from __future__ import annotations

import math
from typing import Any


def offset_of(page: int, page_size: int) -> int:
    """Rows to skip before the given 1-based page."""
    return (page - 1) * page_size


def page_of(items: list[Any], total: int, page: int, page_size: int) -> dict[str, Any]:
    """``{items, total, page, page_size, total_pages}``."""
    return {
        "items": items,
        "total": total,
        "page": page,
        "page_size": page_size,
        "total_pages": math.ceil(total / page_size),
    }
