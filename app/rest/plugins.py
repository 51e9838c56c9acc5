"""The /v1/plugins resource."""

from __future__ import annotations

from typing import Any

from app.auth.audit import AuditAction
from app.rest.context import audit, caller, request_id, runtime
from app.rest.pagination import offset_of, page_of


def list_plugins(page: int = 1, page_size: int = 20) -> dict[str, Any]:
    """Installed plugins ordered by name, with their status."""
    items, total = runtime().plugins.list_plugins(offset_of(page, page_size), page_size)
    return page_of(items, total, page, page_size)


def get_plugin(id_: str) -> dict[str, Any]:
    """One plugin, with its description, input schema and failure reason."""
    return runtime().plugins.get_plugin(id_)


def execute_plugin(id_: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run a plugin on one input, in a process of its own, within its time limit."""
    execution = runtime().plugins.execute(id_, body["input"])
    return {
        "output": execution.output,
        "execution_time_ms": execution.execution_time_ms,
        "request_id": request_id(),
    }


def update_plugin(id_: str, body: dict[str, Any]) -> dict[str, Any]:
    """Enable or disable a plugin for every worker (admins only)."""
    enabled = body["enabled"]
    plugin, changed = runtime().plugins.set_enabled(id_, enabled, caller().user_id)
    if changed:
        action = AuditAction.PLUGIN_ENABLED if enabled else AuditAction.PLUGIN_DISABLED
        audit(action, plugin["id"], {"name": plugin["name"]})
    return plugin
