"""GET /v1/audit-log (admins only)."""

from __future__ import annotations

from typing import Any

from app.auth import audit
from app.rest.context import runtime
from app.rest.pagination import offset_of, page_of


def list_audit_events(
    page: int = 1, page_size: int = 20, action: str | None = None
) -> dict[str, Any]:
    """Audit events, newest first, optionally of one action."""
    items, total = audit.list_events(
        runtime().db, offset_of(page, page_size), page_size, action
    )
    return page_of(items, total, page, page_size)
