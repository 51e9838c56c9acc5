"""Tell a streaming WSGI handler that its client has gone away.

Under the WSGI bridge (a2wsgi) a handler's generator cannot see a disconnect:
uvicorn drops what is sent to a closed connection without a word, so an export
whose client hung up would read every remaining page for nobody. This
middleware reads the server's messages for the app, and on ``http.disconnect``
sets a ``threading.Event`` that the handler finds in the WSGI environ
(``asgi.scope``), so the generator can stop between pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "ltb.client_gone"


class DisconnectWatchMiddleware:
    """Set ``scope[SCOPE_KEY]`` when the client of a streamed GET disconnects."""

    def __init__(self, app: ASGIApp, path_suffixes: tuple[str, ...]) -> None:
        self.app = app
        self.path_suffixes = path_suffixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].endswith(self.path_suffixes)
        ):
            await self.app(scope, receive, send)
            return

        gone = threading.Event()
        scope[SCOPE_KEY] = gone
        # One reader of the server's receive(), which hands every message on to
        # the app: two readers would steal each other's messages.
        messages: asyncio.Queue[Message] = asyncio.Queue()

        async def read() -> None:
            while True:
                message = await receive()
                await messages.put(message)
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        reader = asyncio.create_task(read())
        try:
            await self.app(scope, messages.get, send)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def client_gone(environ: dict[str, Any]) -> threading.Event | None:
    """The event set when this WSGI request's client disconnects, if watched."""
    scope = environ.get("asgi.scope") or {}
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, threading.Event) else None
