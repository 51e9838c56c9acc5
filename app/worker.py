"""The gunicorn worker: uvicorn's, configured for our WebSocket and our logs."""

from __future__ import annotations

import logging
import warnings
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]

from app.settings import Settings

# The older implementation is deprecated but correct (see Worker); say it once
# here rather than in every worker's log.
warnings.filterwarnings(
    "ignore", message="The `websockets` implementation is deprecated"
)


class RedactQueryStrings(logging.Filter):
    """Cut query strings out of uvicorn's access and WebSocket log lines.

    Clients sometimes put a credential in the URL (``/ws?token=...``); the server
    refuses it, but the server library logs the request line before we can.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) for arg in record.args)
        return True


def _redact(arg: Any) -> Any:
    if isinstance(arg, str) and arg.startswith("/") and "?" in arg:
        return arg.split("?", 1)[0] + "?[redacted]"
    return arg


class Worker(UvicornWorker):  # type: ignore[misc]
    """UvicornWorker with keep-alive pings and a frame size limit from settings."""

    _settings = Settings.from_env()
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS,
        # Not "websockets-sansio": in uvicorn 0.55 it raises on a text frame that is
        # not UTF-8 (found by tests/e2e/test_websocket_live.py) instead of closing
        # with 1007 as the older implementation does.
        "ws": "websockets",
        "ws_ping_interval": _settings.ws_ping_interval_s,
        "ws_ping_timeout": _settings.ws_ping_timeout_s,
        "ws_max_size": _settings.ws_max_message_bytes,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).addFilter(RedactQueryStrings())
