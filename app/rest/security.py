"""Connexion security functions for the bearer JWT and X-API-Key schemes.

They run in Connexion's ASGI security middleware, before Flask, so they find the
runtime in the request scope and do their database work off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from connexion.lifecycle import ConnexionRequest

from app.auth.service import refuse_several_credentials
from app.rest.context import runtime_of_scope


def _one_credential(request: ConnexionRequest) -> None:
    # Connexion tries the schemes in turn and takes the first that succeeds, and
    # reads only the first header of a name: each function checks that no other
    # credential came with the one it is given.
    refuse_several_credentials(
        request.headers.getlist("authorization"), request.headers.getlist("x-api-key")
    )


async def bearer_info(token: str, request: ConnexionRequest) -> dict[str, Any]:
    """Authenticate a bearer JWT; every failure becomes a 401 in the envelope."""
    _one_credential(request)
    auth = runtime_of_scope(request.scope).auth
    principal = await asyncio.to_thread(auth.principal_from_token, token)
    return principal.as_token_info()


async def api_key_info(
    key: str, required_scopes: Any, request: ConnexionRequest
) -> dict[str, Any]:
    """Authenticate an API key; every failure becomes a 401 in the envelope."""
    _one_credential(request)
    auth = runtime_of_scope(request.scope).auth
    principal = await asyncio.to_thread(auth.principal_from_api_key, key)
    return principal.as_token_info()
