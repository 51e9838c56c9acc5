"""Request ids: kept from the client or made up, and echoed on every response."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logs import REQUEST_ID

REQUEST_ID_HEADER = "X-Request-ID"
_SCOPE_KEY = "ltb.request_id"
# An incoming id is kept only if it is short and harmless in logs and headers.
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id(scope: Any) -> str:
    """The id of the request this scope belongs to."""
    return str(scope.get(_SCOPE_KEY) or "")


class RequestIdMiddleware:
    """ASGI middleware: give every HTTP request an id and put it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _incoming_id(scope) or str(uuid.uuid4())
        scope[_SCOPE_KEY] = request_id
        # Handlers read it from the headers, which reach Flask through the WSGI bridge.
        headers = [(k, v) for k, v in scope["headers"] if k != b"x-request-id"]
        headers.append((b"x-request-id", request_id.encode("ascii")))
        scope["headers"] = headers

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"x-request-id"
                ]
                out.append((b"x-request-id", request_id.encode("ascii")))
                message["headers"] = out
            await send(message)

        # Every line logged while serving this request carries its id.
        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def _incoming_id(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                return None
            return text if _ACCEPTABLE.match(text) else None
    return None
