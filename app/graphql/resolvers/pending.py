"""Plugins and evaluations: capabilities that have not landed on this branch.

The original SDL keeps ``plugins``, ``plugin(id)`` and ``createEvaluation``, and
until the plugin registry and the evaluators exist here they answer what is true:
no plugin is installed, so ``plugins`` is empty and ``plugin(id)`` is null, and
evaluations cannot be run, so ``createEvaluation`` fails with SERVICE_UNAVAILABLE.

This module is the one to replace when those services land: bind the same three
fields to them, and point OPERATIONS at their REST operationIds (list_plugins,
get_plugin, create_evaluation or whatever they are named) so that roles come
from PERMISSIONS as for every other field.
"""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, QueryType, SchemaBindable

from app.errors import ServiceUnavailable
from app.graphql.context import Info

# Root field -> the operationId whose roles guard it. With nothing behind these
# fields yet they are guarded like the /graphql endpoint itself (any role).
OPERATIONS: dict[tuple[str, str], str] = {
    ("Query", "plugins"): "graphql_execute",
    ("Query", "plugin"): "graphql_execute",
    ("Mutation", "createEvaluation"): "graphql_execute",
}

query = QueryType()
mutation = MutationType()


@query.field("plugins")
def resolve_plugins(_obj: Any, _info: Info) -> list[dict[str, Any]]:
    """No plugin is installed on a server without the plugin registry."""
    return []


@query.field("plugin")
def resolve_plugin(_obj: Any, _info: Info, id: str) -> None:
    """No plugin is installed, so none has this id."""
    return None


@mutation.field("createEvaluation")
def resolve_create_evaluation(
    _obj: Any,
    _info: Info,
    input: dict[str, Any],
) -> dict[str, Any]:
    """Evaluations need the evaluators, which this server does not have yet."""
    raise ServiceUnavailable(
        "Evaluations are not available on this server yet: no evaluator is installed",
        details={"capability": "evaluations"},
    )


BINDABLES: list[SchemaBindable] = [query, mutation]
