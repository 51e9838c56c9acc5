"""Resolve operationIds to handlers, guarding each with the permission table."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from connexion.resolver import Resolution, Resolver

from app.auth.permissions import PERMISSIONS

logger = logging.getLogger(__name__)


class PermissionResolver(Resolver):  # type: ignore[misc]
    """Find the handler named ``operationId`` in the resource modules.

    An operation missing from the permission table cannot be routed at all, so a
    new operation cannot slip past AuthorizationMiddleware.
    """

    def resolve(self, operation: Any) -> Resolution:
        operation_id = operation.operation_id
        if operation_id not in PERMISSIONS:
            raise ValueError(f"operation {operation_id!r} has no permission entry")
        handler = _handler_named(operation_id)
        logger.debug("routing %s to %s", operation_id, handler.__module__)
        return Resolution(handler, operation_id)


# One module per REST resource (the spec's tags); each operationId names a function.
RESOURCE_MODULES = (
    "health",
    "auth",
    "users",
    "audit",
    "completions",
    "providers",
    "datasets",
    "benchmarks",
    "evaluators",
    "evaluations",
    "plugins",
    "graphql",
    "pages",
)


def _handler_named(operation_id: str) -> Callable[..., Any]:
    found = [
        getattr(module, operation_id)
        for module in (
            importlib.import_module(f"app.rest.{name}") for name in RESOURCE_MODULES
        )
        if callable(getattr(module, operation_id, None))
    ]
    if len(found) != 1:
        raise ValueError(
            f"operation {operation_id!r} must name exactly one handler, "
            f"found {len(found)}"
        )
    handler: Callable[..., Any] = found[0]
    return handler
