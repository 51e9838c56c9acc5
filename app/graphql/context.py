"""What every resolver may know about the operation it serves."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import GraphQLResolveInfo

from app.auth.service import Principal
from app.runtime import Runtime


@dataclass(frozen=True)
class GraphQLContext:
    """The caller and the process' services, for one operation.

    ``request_id`` is the HTTP request's id, or the WebSocket connection's id for
    a subscription; ``client_address`` is what the audit log records.
    """

    runtime: Runtime
    principal: Principal
    request_id: str
    client_address: str


# What resolvers receive as ``info``: its ``context`` is a GraphQLContext.
Info = GraphQLResolveInfo[GraphQLContext]
