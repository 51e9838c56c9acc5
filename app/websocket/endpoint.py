"""The /ws route: an ASGI middleware beside Connexion's routing, in the same app."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from app.runtime import Runtime
from app.websocket.hub import Hub
from app.websocket.session import Session

WS_PATH = "/ws"


class WebSocketEndpoint:
    """Serves WebSocket connections to /ws; everything else passes through."""

    def __init__(self, app: ASGIApp, runtime: Runtime, hub: Hub) -> None:
        self.app = app
        self.runtime = runtime
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == WS_PATH:
            await Session(WebSocket(scope, receive, send), self.runtime, self.hub).run()
            return
        await self.app(scope, receive, send)
