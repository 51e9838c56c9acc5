"""/graphql over HTTP: queries and mutations, and the GraphiQL playground."""

from __future__ import annotations

from typing import Any

from app.graphql import execution, playground
from app.rest.context import caller, client_address, request_id, runtime


def graphql_execute(body: dict[str, Any]) -> dict[str, Any]:
    """Run one GraphQL query or mutation as the authenticated caller."""
    return execution.execute(runtime(), body, caller(), request_id(), client_address())


def graphql_playground() -> tuple[str, int, dict[str, str]]:
    """The GraphiQL page; it holds no data, so it needs no credential."""
    return playground.page(), 200, {"Content-Type": "text/html"}


def graphql_playground_asset(asset: str) -> tuple[bytes, int, dict[str, str]]:
    """One of the playground's scripts or style sheets, served from this server."""
    content, media_type = playground.asset(asset)
    return content, 200, {"Content-Type": media_type, **playground.ASSET_HEADERS}
