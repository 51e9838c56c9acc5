"""Roles and the one permission table every transport consults."""

from __future__ import annotations

from enum import StrEnum

from app.errors import Forbidden


class Role(StrEnum):
    """What a user or API key may do."""

    ADMIN = "admin"
    USER = "user"
    SERVICE = "service"
    VIEWER = "viewer"


# A key may never carry more power than its owner: this is the order of power.
ROLE_RANK: dict[Role, int] = {
    Role.VIEWER: 0,
    Role.SERVICE: 1,
    Role.USER: 2,
    Role.ADMIN: 3,
}

ALL_ROLES = frozenset(Role)
RUNNERS = frozenset({Role.ADMIN, Role.USER, Role.SERVICE})
KEY_MANAGERS = frozenset({Role.ADMIN, Role.USER})
ADMINS = frozenset({Role.ADMIN})
PUBLIC: frozenset[Role] = frozenset()

# Operation (the operationId of openapi/openapi.yaml) -> roles allowed to call it.
# An operation missing here is refused for everybody: new operations must be added.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "get_health": PUBLIC,
    # Probes and scrapers send no credential; METRICS_TOKEN can guard /metrics.
    "get_readiness": PUBLIC,
    "get_metrics": PUBLIC,
    "login": PUBLIC,
    "create_api_key": KEY_MANAGERS,
    "list_api_keys": KEY_MANAGERS,
    "revoke_api_key": KEY_MANAGERS,
    "create_user": ADMINS,
    "list_users": ADMINS,
    "update_user": ADMINS,
    "list_audit_events": ADMINS,
    "create_completion": RUNNERS,
    "list_providers": ALL_ROLES,
    "create_dataset": RUNNERS,
    "list_datasets": ALL_ROLES,
    "get_dataset": ALL_ROLES,
    "create_benchmark": RUNNERS,
    "list_benchmarks": ALL_ROLES,
    "get_benchmark": ALL_ROLES,
    "cancel_benchmark": RUNNERS,
    "get_benchmark_results": ALL_ROLES,
    "get_benchmark_comparison": ALL_ROLES,
    "export_benchmark": ALL_ROLES,
    "get_benchmark_manifest": ALL_ROLES,
    "list_evaluators": ALL_ROLES,
    "create_evaluation": RUNNERS,
    "list_evaluations": ALL_ROLES,
    "get_evaluation": ALL_ROLES,
    # Topics of the WebSocket at /ws (asyncapi/asyncapi.yaml): who may subscribe.
    "subscribe:benchmark.progress": ALL_ROLES,
    "subscribe:evaluation.results": ALL_ROLES,
    "subscribe:plugin.events": ALL_ROLES,
    "subscribe:system.metrics": ADMINS,
    "subscribe:request.logs": ADMINS,
    "list_plugins": ALL_ROLES,
    "get_plugin": ALL_ROLES,
    # Not read-only: it runs installed code in a process of its own.
    "execute_plugin": RUNNERS,
    "update_plugin": ADMINS,
    # GraphQL: each root field is further checked against the operation it mirrors
    # (app/graphql/permissions.py); the playground page and its assets hold no data.
    "graphql_execute": ALL_ROLES,
    "graphql_playground": PUBLIC,
    "graphql_playground_asset": PUBLIC,
    # The results pages take no API credential: their handlers check the page
    # session cookie themselves (app/pages/session.py) against "get_benchmark".
    "benchmark_page": PUBLIC,
    "benchmark_page_fragment": PUBLIC,
    "benchmark_page_login_form": PUBLIC,
    "benchmark_page_login": PUBLIC,
    "benchmark_page_logout": PUBLIC,
    "page_asset": PUBLIC,
}
TOPIC_PREFIX = "subscribe:"


def is_public(operation: str) -> bool:
    """Whether the operation needs no credential at all."""
    return PERMISSIONS.get(operation) is PUBLIC


def authorize(operation: str, role: str) -> None:
    """Raise Forbidden unless the role may perform the operation."""
    allowed = PERMISSIONS.get(operation)
    if allowed is None or role not in allowed:
        raise Forbidden(
            f"Role '{role}' may not perform '{operation}'",
            details={"operation": operation, "role": role},
        )


def authorize_topic(topic: str, role: str) -> None:
    """Raise Forbidden unless the role may subscribe to the WebSocket topic."""
    allowed = PERMISSIONS.get(TOPIC_PREFIX + topic)
    if allowed is None or role not in allowed:
        raise Forbidden(
            f"Role '{role}' may not subscribe to '{topic}'",
            details={"topic": topic, "role": role},
        )


def outranks(role: str, other: str) -> bool:
    """Whether ``role`` has strictly more power than ``other``."""
    return ROLE_RANK[Role(role)] > ROLE_RANK[Role(other)]
