"""The /v1/users resource (admins only)."""

from __future__ import annotations

from typing import Any

from app.auth.audit import AuditAction
from app.rest.context import audit, runtime
from app.rest.pagination import offset_of, page_of
from app.store.models import User


def create_user(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Create a user with a role."""
    user = runtime().auth.create_user(body["username"], body["password"], body["role"])
    audit(
        AuditAction.USER_CREATED,
        user.id,
        {"username": user.username, "role": user.role},
    )
    return user_view(user), 201


def list_users(page: int = 1, page_size: int = 20) -> dict[str, Any]:
    """Every user, oldest first."""
    rows, total = runtime().auth.list_users(offset_of(page, page_size), page_size)
    return page_of([user_view(row) for row in rows], total, page, page_size)


def update_user(id_: str, body: dict[str, Any]) -> dict[str, Any]:
    """Change a user's role or disable them; effective on their next request."""
    user, changes = runtime().auth.update_user(
        id_, body.get("role"), body.get("disabled")
    )
    if changes:
        audit(AuditAction.USER_UPDATED, user.id, changes)
    return user_view(user)


def user_view(user: User) -> dict[str, Any]:
    """The API representation of a user (never the password hash)."""
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": user.created_at,
    }
