"""GraphQL at /graphql: the SDL of graphql/ served by Ariadne beside the REST API.

Queries and mutations arrive as Connexion operations (``graphql_execute``), so they
get the REST API's authentication, roles, rate limit, request id and envelope;
subscriptions arrive over the graphql-transport-ws protocol on the same path,
through the ASGI middleware that ``install`` adds.
"""

from __future__ import annotations

from connexion import FlaskApp
from connexion.middleware import MiddlewarePosition

from app.graphql.websocket import GraphQLGateMiddleware
from app.settings import Settings


def install(app: FlaskApp, settings: Settings) -> None:
    """Add the WebSocket side of /graphql (or, when disabled, remove /graphql)."""
    # Inside the exception middleware, so that an HTTP refusal renders as the
    # envelope, and inside RuntimeMiddleware, which puts the runtime in the scope.
    app.add_middleware(
        GraphQLGateMiddleware,
        position=MiddlewarePosition.BEFORE_SWAGGER,
        settings=settings,
    )
