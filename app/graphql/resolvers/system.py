"""The server itself: its version, health, the caller and the providers."""

from __future__ import annotations

from typing import Any

from ariadne import QueryType, SchemaBindable

from app import __version__
from app.auth.service import Principal
from app.graphql.context import Info

query = QueryType()


@query.field("version")
def resolve_version(_obj: Any, _info: Info) -> str:
    """The version GET /health reports."""
    return __version__


@query.field("health")
def resolve_health(_obj: Any, _info: Info) -> bool:
    """True whenever the server answers, as GET /health says "healthy" then."""
    return True


@query.field("me")
def resolve_me(_obj: Any, info: Info) -> Principal:
    """The caller, as the request's credential authenticated it."""
    principal: Principal = info.context.principal
    return principal


@query.field("providers")
def resolve_providers(_obj: Any, info: Info) -> list[dict[str, Any]]:
    """Every configured provider, as GET /v1/providers lists them."""
    providers: list[dict[str, Any]] = info.context.runtime.providers.describe()
    return providers


BINDABLES: list[SchemaBindable] = [query]
