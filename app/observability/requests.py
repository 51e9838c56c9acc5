"""Every HTTP request, published on ``request.logs`` and counted for metrics.

``latency_ms`` is the time to the start of the response (headers ready). The
Prometheus figures (app/observability/metrics.py) label a request by the route
template of the operation that answered it, never by its raw path.

The event carries what an operator needs (method, path, status, latency, who)
and nothing that could hold a secret: no query string, no headers, no body.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.events import EventBus, Topic
from app.observability import metrics
from app.rest.request_id import current_request_id


@dataclass
class RequestStats:
    """Counters of this process, read by the metrics sampler."""

    total: int = 0
    in_flight: int = 0


class RequestLogMiddleware:
    """ASGI middleware: times each HTTP request and publishes it when answered."""

    def __init__(
        self,
        app: ASGIApp,
        events: EventBus,
        stats: RequestStats,
        routes: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.events = events
        self.stats = stats
        # operationId -> its path template in the contract.
        self.routes = routes or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        published = False
        # Connexion records who it authenticated in scope["extensions"], creating
        # that dict when the server sent none (uvicorn sends none; Starlette's test
        # client does). Created inside, it would live only on the copies of the
        # scope that inner middlewares pass on, and _username would never see it.
        scope.setdefault("extensions", {})

        def publish(status: int) -> None:
            seconds = time.perf_counter() - started
            metrics.observe_request(
                scope["method"], _route(scope, self.routes), status, seconds
            )
            self.events.publish(
                Topic.REQUEST_LOGS,
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "latency_ms": round(seconds * 1000, 3),
                    "user": _username(scope),
                    "request_id": current_request_id(scope) or None,
                },
            )

        async def watch(message: Message) -> None:
            nonlocal published
            if message["type"] == "http.response.start":
                # Published before the client can have the answer: a client that
                # waits for each answer sees its requests' events in its order.
                publish(message["status"])
                published = True
            await send(message)

        self.stats.total += 1
        self.stats.in_flight += 1
        try:
            await self.app(scope, receive, watch)
        finally:
            self.stats.in_flight -= 1
            if not published:  # no answer at all: the server's 500, or a hang-up
                publish(500)


def _username(scope: Scope) -> str | None:
    # Connexion's security middleware leaves who it authenticated in the scope.
    context = scope.get("extensions", {}).get("connexion_context", {})
    info = context.get("token_info") if isinstance(context, dict) else None
    return info.get("username") if isinstance(info, dict) else None


def _route(scope: Scope, routes: Mapping[str, str]) -> str:
    # Connexion's routing middleware names the operation it matched in the scope.
    routing = scope.get("extensions", {}).get("connexion_routing", {})
    operation_id = routing.get("operation_id") if isinstance(routing, dict) else None
    return routes.get(operation_id or "", metrics.UNROUTED)
