"""request.logs names the authenticated user under every ASGI server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.events import Topic
from app.observability.requests import RequestLogMiddleware, RequestStats


class Published:
    """An event bus that keeps what is published."""

    def __init__(self) -> None:
        self.events: list[tuple[Topic, dict[str, Any]]] = []

    def publish(self, topic: Topic, data: dict[str, Any]) -> None:
        self.events.append((topic, data))


async def connexion_like_app(scope: Any, receive: Any, send: Any) -> None:
    """Authenticate as Connexion does: on a copy of the scope it passes on."""
    inner = dict(scope)
    context = inner.setdefault("extensions", {}).setdefault("connexion_context", {})
    context["token_info"] = {"username": "admin", "sub": "u1"}
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


@pytest.mark.parametrize(
    "scope_extensions",
    [{}, {"extensions": {"http.response.debug": {}}}],
    ids=["uvicorn-sends-no-extensions", "test-client-sends-extensions"],
)
def test_the_user_authenticated_inside_is_named_in_the_event(
    scope_extensions: dict[str, Any],
) -> None:
    bus = Published()
    middleware = RequestLogMiddleware(connexion_like_app, bus, RequestStats())  # type: ignore[arg-type]
    scope = {"type": "http", "method": "GET", "path": "/v1/datasets"}
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    asyncio.run(middleware(scope | scope_extensions, receive, send))

    [(topic, data)] = bus.events
    assert topic == Topic.REQUEST_LOGS
    assert (data["path"], data["status"], data["user"]) == (
        "/v1/datasets",
        200,
        "admin",
    )
