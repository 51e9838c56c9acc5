"""GET /health."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app import __version__
from app.rest.context import runtime


def get_health() -> dict[str, Any]:
    """The server is up: its version, the time and real uptime."""
    return {
        "status": "healthy",
        "version": __version__,
        "timestamp": datetime.now(UTC),
        "uptime_seconds": runtime().uptime_seconds(),
    }
