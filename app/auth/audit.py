"""The audit log: security-relevant actions, readable by admins."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select

from app.store.database import Database
from app.store.models import AuditEvent

logger = logging.getLogger(__name__)


class AuditAction(StrEnum):
    """What was done (the spec's AuditAction)."""

    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    BENCHMARK_CANCELLED = "benchmark.cancelled"
    PLUGIN_ENABLED = "plugin.enabled"
    PLUGIN_DISABLED = "plugin.disabled"


def record(
    db: Database,
    action: AuditAction,
    *,
    actor_id: str | None,
    actor: str | None,
    target: str | None = None,
    address: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Store one audit event. Callers never pass secrets in ``details``."""
    with db.session() as session:
        session.add(
            AuditEvent(
                action=str(action),
                actor_id=actor_id,
                actor=actor,
                target=target,
                address=address,
                details=details or {},
            )
        )
    # repr() keeps a newline in a username from forging a log line.
    logger.info("audit: %s by %r on %r", action, actor, target)


def list_events(
    db: Database, offset: int, limit: int, action: str | None
) -> tuple[list[dict[str, Any]], int]:
    """A page of audit events, newest first."""
    query = select(AuditEvent)
    if action:
        query = query.where(AuditEvent.action == action)
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(
            query.order_by(AuditEvent.id.desc()).offset(offset).limit(limit)
        ).all()
    return [_view(row) for row in rows], total or 0


def _view(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "action": row.action,
        "actor_id": row.actor_id,
        "actor": row.actor,
        "target": row.target,
        "address": row.address,
        "details": row.details,
    }
