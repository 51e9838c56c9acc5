"""Log lines as JSON objects (or text), each carrying the id of its request.

The request-id middleware (app/rest/request_id.py) sets ``REQUEST_ID`` for the
task that serves a request; the WSGI bridge copies it into the handler thread
and ``Runtime.call`` into the coroutines a handler runs on the loop, so every
line logged while serving a request, by our code or a library, carries its id.

``LTB_LOG_FORMAT`` chooses: ``json`` (the production default: one object a line,
for log collectors) or ``text`` (the development default: for people).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("ltb_request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The record attributes each JSON line holds, and the names they get there.
JSON_FIELDS = ("levelname", "name", "process", "request_id", "message")
JSON_NAMES = {"levelname": "level", "name": "logger", "process": "pid"}
# Attributes never copied into a line: the record's own, and uvicorn's copy of
# its message with terminal colours.
JSON_LEFT_OUT = [*RESERVED_ATTRS, "color_message"]


class RequestIdFilter(logging.Filter):
    """Put the id of the request being served (or None) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``LTB_LOG_FORMAT``: "json" or "text"."""
    if log_format == "json":
        return JsonFormatter(
            list(JSON_FIELDS),
            rename_fields=JSON_NAMES,
            reserved_attrs=JSON_LEFT_OUT,
            timestamp=True,
        )
    return logging.Formatter(TEXT_FORMAT)


def use_format(handler: logging.Handler, log_format: str) -> None:
    """Make ``handler`` write ``log_format`` lines that carry the request id."""
    handler.setFormatter(formatter(log_format))
    if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
        handler.addFilter(RequestIdFilter())


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Log to standard error in ``log_format``, unless the root logger has handlers.

    Like ``logging.basicConfig``, it leaves alone a program (or a test run) that
    configured logging itself.
    """
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    use_format(handler, log_format)
    root.addHandler(handler)
    root.setLevel(level)
