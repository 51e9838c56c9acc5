"""Run one query or mutation on the calling thread, within the configured limits."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ariadne import graphql_sync
from graphql import DocumentNode, parse
from graphql.validation import ASTValidationRule

from app.auth.service import Principal
from app.errors import BadRequest
from app.graphql.context import GraphQLContext
from app.graphql.errors import ErrorLog, format_error
from app.graphql.limits import limits_rule
from app.graphql.permissions import permission_middleware
from app.graphql.schema import executable_schema
from app.graphql.storable import NoNulInStringsRule
from app.runtime import Runtime
from app.settings import Settings

# Far above any real query (the full introspection query has about 300 tokens).
MAX_TOKENS = 10_000


def execute(
    runtime: Runtime,
    body: dict[str, Any],
    principal: Principal,
    request_id: str,
    client_address: str,
) -> dict[str, Any]:
    """The GraphQL response (``data`` and/or ``errors``) for one request body.

    It runs synchronously on the handler thread: resolvers call the same blocking
    services as REST handlers, and hand async work to the loop with runtime.call.
    """
    settings = runtime.settings
    context = GraphQLContext(runtime, principal, request_id, client_address)
    try:
        _, result = graphql_sync(
            executable_schema(),
            body,
            context_value=context,
            introspection=settings.graphql_introspection,
            validation_rules=validation_rules(settings, body.get("variables")),
            query_parser=_parse,
            error_formatter=format_error,
            logger=ErrorLog(request_id),
            middleware=[permission_middleware],
        )
    except RecursionError as e:
        # graphql-core parses and validates recursively: a document nested
        # thousands of levels deep is refused, not a crash.
        raise BadRequest("The GraphQL document is nested too deeply") from e
    response: dict[str, Any] = result
    return response


def _parse(_context: Any, data: dict[str, Any]) -> DocumentNode:
    # Without a token limit, parsing and validating a megabyte of aliases or
    # operations costs seconds of CPU before any depth or cost check can run.
    return parse(data["query"], max_tokens=MAX_TOKENS)


def validation_rules(
    settings: Settings, variables: Any
) -> Collection[type[ASTValidationRule]]:
    """The rules every operation meets on top of the spec's: depth, cost, no NUL."""
    known = variables if isinstance(variables, Mapping) else None
    return [
        limits_rule(
            settings.graphql_max_depth,
            settings.graphql_max_cost,
            known,
            settings.graphql_max_mutations,
        ),
        NoNulInStringsRule,
    ]
