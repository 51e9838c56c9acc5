"""POST /v1/auth/login and the /v1/auth/api-keys resource."""

from __future__ import annotations

from typing import Any

from app.auth.audit import AuditAction
from app.rest.context import audit, caller, client_address, runtime
from app.rest.pagination import offset_of, page_of
from app.rest.validation import parse_date_time
from app.store.models import ApiKey


def login(body: dict[str, Any]) -> dict[str, Any]:
    """Exchange a username and password for a JWT."""
    token, expires_at = runtime().auth.login(
        body["username"], body["password"], client_address()
    )
    return {"token": token, "expires_at": expires_at}


def create_api_key(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Mint an API key for the caller; the key itself is in this response only."""
    rt, owner = runtime(), caller()
    expires_at = body.get("expires_at")
    row, key = rt.auth.create_api_key(
        owner,
        body["name"],
        body.get("role"),
        parse_date_time(expires_at) if expires_at is not None else None,
    )
    audit(AuditAction.API_KEY_CREATED, row.id, {"name": row.name, "role": row.role})
    return {
        "key": key,
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
    }, 201


def list_api_keys(page: int = 1, page_size: int = 20) -> dict[str, Any]:
    """The caller's keys (all keys for an admin), never the keys themselves."""
    rows, total = runtime().auth.list_api_keys(
        caller(), offset_of(page, page_size), page_size
    )
    return page_of([_key_view(row) for row in rows], total, page, page_size)


def revoke_api_key(id_: str) -> tuple[str, int]:
    """Revoke a key; it stops working on the next request."""
    rt, owner = runtime(), caller()
    row, revoked_now = rt.auth.revoke_api_key(owner, id_)
    if revoked_now:  # revoking twice is harmless and not a second event
        audit(AuditAction.API_KEY_REVOKED, row.id, {"owner_id": row.user_id})
    return "", 204


def _key_view(row: ApiKey) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "owner_id": row.user_id,
        "expires_at": row.expires_at,
        "prefix": row.prefix,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
        "last_used_at": row.last_used_at,
    }
