"""Enforce the permission table after authentication and before validation.

Checking here, once, rather than in each handler means a caller without the right
role learns nothing about the shape of a request it may not make: it gets 403
whatever the body.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.permissions import authorize, is_public
from app.errors import Unauthorized


class AuthorizationMiddleware:
    """Refuse operations the caller's role does not allow (Connexion middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            extensions = scope.get("extensions", {})
            operation = extensions.get("connexion_routing", {}).get("operation_id")
            if operation is not None and not is_public(operation):
                token_info = extensions.get("connexion_context", {}).get("token_info")
                if not token_info:
                    # Security did not run or found nobody: fail closed, as a 401.
                    raise Unauthorized("Authentication is required")
                authorize(operation, token_info.get("role", ""))

        await self.app(scope, receive, send)
