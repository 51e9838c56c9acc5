"""GET /health, GET /health/ready and GET /metrics: for probes and scrapers."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from flask import Response, request

from app import __version__
from app.errors import ServiceUnavailable, Unauthorized
from app.observability import metrics
from app.observability.readiness import CHECK_TIMEOUT_S, check_readiness, failing
from app.rest.context import runtime

_BEARER = "Bearer "


def get_health() -> dict[str, Any]:
    """The server is up: its version, the time and real uptime."""
    return {
        "status": "healthy",
        "version": __version__,
        "timestamp": datetime.now(UTC),
        "uptime_seconds": runtime().uptime_seconds(),
    }


def get_readiness() -> dict[str, Any]:
    """Every dependency answers; otherwise 503 naming the ones that do not."""
    current = runtime()
    settings = current.settings
    try:
        checks = current.call(
            check_readiness(
                current.db, settings.redis_url, settings.readiness_broker_url
            ),
            timeout=CHECK_TIMEOUT_S + 1,
        )
    except TimeoutError as e:  # the checks have their own limit: the loop is stuck
        raise ServiceUnavailable("Not ready: the checks did not finish in time") from e
    down = failing(checks)
    if down:
        raise ServiceUnavailable(
            f"Not ready: {', '.join(down)} {'is' if len(down) == 1 else 'are'} down",
            details={"failing": down, "checks": checks},
        )
    return {"status": "ready", "checks": checks, "timestamp": datetime.now(UTC)}


def get_metrics() -> Response:
    """The Prometheus exposition of every worker; METRICS_TOKEN may guard it."""
    token = runtime().settings.metrics_token
    if token is not None and not _carries(token):
        raise Unauthorized(
            "Send the metrics token as Authorization: Bearer <METRICS_TOKEN>"
        )
    body, content_type = metrics.exposition()
    # A response of its own: Connexion would otherwise require the content type,
    # parameters and all, to be spelt in the spec exactly.
    return Response(body, status=200, content_type=content_type)


def _carries(token: str) -> bool:
    sent = request.headers.get("Authorization", "")
    if not sent.startswith(_BEARER):
        return False
    # Constant time: the comparison must not tell how much of a guess was right.
    return hmac.compare_digest(sent[len(_BEARER) :].encode(), token.encode())
