"""Which REST operation each root field mirrors, so roles come from one table.

A GraphQL operation may do exactly what its REST twin may do: each root field
names an operationId of openapi/openapi.yaml, and ``app.auth.permissions``
decides with the same PERMISSIONS table. A root field missing here is refused for
everybody, as an operation missing from PERMISSIONS is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.auth.permissions import authorize, is_public
from app.errors import Forbidden
from app.graphql.context import Info
from app.graphql.resolvers import evaluations, plugins

# The operationId of POST /graphql itself; what any authenticated caller may do.
GRAPHQL_OPERATION = "graphql_execute"

ROOT_FIELD_OPERATIONS: dict[tuple[str, str], str] = {
    ("Query", "version"): "get_health",
    ("Query", "health"): "get_health",
    # Reading one's own identity mirrors no resource: whoever may send an
    # operation may ask who they are.
    ("Query", "me"): GRAPHQL_OPERATION,
    ("Query", "providers"): "list_providers",
    ("Query", "datasets"): "list_datasets",
    ("Query", "dataset"): "get_dataset",
    ("Query", "benchmarks"): "list_benchmarks",
    ("Query", "benchmark"): "get_benchmark",
    ("Query", "benchmarkComparison"): "get_benchmark_comparison",
    ("Mutation", "createCompletion"): "create_completion",
    ("Mutation", "createBenchmark"): "create_benchmark",
    ("Mutation", "cancelBenchmark"): "cancel_benchmark",
    ("Subscription", "benchmarkProgress"): "get_benchmark",
    **plugins.OPERATIONS,
    **evaluations.OPERATIONS,
}


def authorize_root_field(type_name: str, field_name: str, role: str) -> None:
    """Raise Forbidden unless the role may perform the field's REST twin."""
    if field_name.startswith("__"):
        return  # introspection: governed by GRAPHQL_INTROSPECTION, not by roles
    operation = ROOT_FIELD_OPERATIONS.get((type_name, field_name))
    if operation is None:
        raise Forbidden(f"'{type_name}.{field_name}' has no permission entry")
    if not is_public(operation):
        authorize(operation, role)


def permission_middleware(
    resolve: Callable[..., Any], obj: Any, info: Info, **args: Any
) -> Any:
    """graphql-core middleware: check every root field before it resolves."""
    if info.path.prev is None:
        role = info.context.principal.role
        authorize_root_field(info.parent_type.name, info.field_name, role)
    return resolve(obj, info, **args)
