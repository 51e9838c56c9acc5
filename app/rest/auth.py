"""POST /v1/auth/login and the /v1/auth/api-keys resource."""

from __future__ import annotations

from typing import Any

from app.rest.context import caller, runtime
from app.rest.pagination import offset_of, page_of
from app.store.models import ApiKey


def login(body: dict[str, Any]) -> dict[str, Any]:
    """Exchange a username and password for a JWT."""
    token, expires_at = runtime().auth.login(body["username"], body["password"])
    return {"token": token, "expires_at": expires_at}


def create_api_key(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Mint an API key for the caller; the key itself is in this response only."""
    row, key = runtime().auth.create_api_key(caller(), body["name"], body.get("role"))
    return {
        "key": key,
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "created_at": row.created_at,
    }, 201


def list_api_keys(page: int = 1, page_size: int = 20) -> dict[str, Any]:
    """The caller's keys (all keys for an admin), never the keys themselves."""
    rows, total = runtime().auth.list_api_keys(
        caller(), offset_of(page, page_size), page_size
    )
    return page_of([_key_view(row) for row in rows], total, page, page_size)


def revoke_api_key(id_: str) -> tuple[str, int]:
    """Revoke a key; it stops working on the next request."""
    runtime().auth.revoke_api_key(caller(), id_)
    return "", 204


def _key_view(row: ApiKey) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "prefix": row.prefix,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
        "last_used_at": row.last_used_at,
    }
