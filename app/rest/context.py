"""How request handling code finds the runtime and the caller."""

from __future__ import annotations

from typing import Any

from connexion import context as connexion_context
from flask import current_app, request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.audit import AuditAction, record
from app.auth.service import Principal
from app.rest.client_address import client_address as forwarded_client
from app.rest.client_address import trusted_networks
from app.rest.request_id import REQUEST_ID_HEADER
from app.runtime import Runtime

_SCOPE_KEY = "ltb.runtime"


class RuntimeMiddleware:
    """ASGI middleware that makes the runtime reachable from the request scope."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_SCOPE_KEY] = self.runtime
        await self.app(scope, receive, send)


def runtime_of_scope(scope: Any) -> Runtime:
    """The runtime, from an ASGI scope."""
    found: Runtime = scope[_SCOPE_KEY]
    return found


def runtime() -> Runtime:
    """The runtime, from inside a Flask handler."""
    found: Runtime = current_app.extensions["ltb"]
    return found


def caller() -> Principal:
    """Who is calling, as authenticated by the security middleware."""
    info = connexion_context.context["token_info"]
    return Principal(
        user_id=info["sub"],
        username=info["username"],
        role=info["role"],
        api_key_id=info.get("api_key_id"),
    )


def request_id() -> str:
    """The id of the current request (set by RequestIdMiddleware)."""
    return request.headers.get(REQUEST_ID_HEADER, "")


def client_address() -> str:
    """The client's address, believing X-Forwarded-For only from trusted proxies."""
    proxies = trusted_networks(runtime().settings.trusted_proxies)
    return forwarded_client(proxies)


def audit(
    action: AuditAction,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record an audit event by the caller of the current request."""
    who = caller()
    record(
        runtime().db,
        action,
        actor_id=who.user_id,
        actor=who.username,
        target=target,
        address=client_address(),
        details=details,
    )
