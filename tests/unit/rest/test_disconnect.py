"""The disconnect watcher: a streamed export learns that its client went away."""

from __future__ import annotations

import asyncio
from typing import Any

from app.rest.disconnect import SCOPE_KEY, DisconnectWatchMiddleware, client_gone


def http_scope(path: str, method: str = "GET") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "headers": []}


def test_the_event_is_set_when_the_client_disconnects_mid_response() -> None:
    seen: dict[str, Any] = {}
    hang_up = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if "body" not in seen:
            seen["body"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def app(scope: Any, receive_: Any, send: Any) -> None:
        # The app still gets its request body through the watcher.
        assert (await receive_())["type"] == "http.request"
        gone = client_gone({"asgi.scope": scope})
        assert gone is not None and not gone.is_set()
        hang_up.set()
        for _ in range(100):
            if gone.is_set():
                seen["gone"] = True
                return
            await asyncio.sleep(0.01)

    async def send(_message: Any) -> None:
        pass

    middleware = DisconnectWatchMiddleware(app, path_suffixes=("/export",))
    asyncio.run(middleware(http_scope("/v1/benchmarks/b/export"), receive, send))

    assert seen.get("gone") is True


def test_other_requests_are_not_watched() -> None:
    scopes: list[dict[str, Any]] = []

    async def app(scope: Any, _receive: Any, _send: Any) -> None:
        scopes.append(scope)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    middleware = DisconnectWatchMiddleware(app, path_suffixes=("/export",))
    asyncio.run(middleware(http_scope("/v1/benchmarks/b"), receive, None))  # type: ignore[arg-type]
    asyncio.run(middleware(http_scope("/x/export", "POST"), receive, None))  # type: ignore[arg-type]

    assert all(SCOPE_KEY not in scope for scope in scopes)
    assert client_gone({"asgi.scope": scopes[0]}) is None
    assert client_gone({}) is None
