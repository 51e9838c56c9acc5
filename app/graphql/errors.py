"""GraphQL errors in the GraphQL spec's shape, with the REST envelope's codes.

Every error leaves with ``message``, ``locations``/``path`` when known, and
``extensions.code`` from ErrorCode: our own errors keep their code, message and
details; errors of the GraphQL document itself (syntax, validation, limits) are
BAD_REQUEST; anything unexpected becomes INTERNAL_ERROR with a fixed message, so
no traceback, SQL or file path ever reaches the client.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from graphql import GraphQLError

from app.errors import ErrorCode, LTBError

logger = logging.getLogger(__name__)
# Where graphql-core's messages start quoting a value: "has invalid value {...}",
# "found {...}", "cannot represent ...: <value>".
_QUOTED_VALUE = re.compile(r"(invalid value|found|cannot represent[^:]*:).*", re.S)

UNEXPECTED_MESSAGE = (
    "An unexpected error occurred; quote the request id when reporting it"
)


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """Ariadne's error formatter: the spec's fields plus ``extensions.code``."""
    formatted: dict[str, Any] = dict(error.formatted)
    cause = original_error(error)
    extensions: dict[str, Any] = dict(formatted.get("extensions") or {})

    if isinstance(cause, LTBError):
        formatted["message"] = cause.message
        extensions = {"code": str(cause.code)}
        if cause.details:
            extensions["details"] = cause.details
    elif cause is not None:
        formatted["message"] = UNEXPECTED_MESSAGE
        extensions = {"code": str(ErrorCode.INTERNAL_ERROR)}
    else:
        extensions.setdefault("code", str(ErrorCode.BAD_REQUEST))

    formatted["extensions"] = extensions
    return formatted


def original_error(error: GraphQLError) -> Exception | None:
    """The exception a resolver raised, if this error wraps one."""
    cause = error.original_error
    while isinstance(cause, GraphQLError) and cause.original_error is not None:
        cause = cause.original_error
    if isinstance(cause, GraphQLError):
        return None
    return cause


class ErrorLog(logging.LoggerAdapter[logging.Logger]):
    """The logger handed to Ariadne, which logs every error at ERROR level.

    Levels here follow the outcome instead: a refused operation (our own error,
    or a bad document) is INFO without a traceback; only an unexpected failure is
    an ERROR with its traceback and the request id.
    """

    def __init__(self, request_id: str) -> None:
        super().__init__(logger, {"request_id": request_id})

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log one of Ariadne's errors at the level its outcome deserves."""
        cause = original_error(msg) if isinstance(msg, GraphQLError) else None
        request_id = (self.extra or {}).get("request_id", "")
        if cause is not None and not isinstance(cause, LTBError):
            logger.error(
                "unexpected error in GraphQL operation (request %s)",
                request_id,
                exc_info=cause,
            )
            return
        # repr(): messages can quote client input, which must not forge log lines.
        # A GraphQLError's str() adds lines of the document around the error, and
        # graphql-core's messages quote the values it refused (a prompt, a whole
        # input object): the log keeps the message up to the value.
        if isinstance(cause, LTBError):
            message = cause.message
        else:
            text = msg.message if isinstance(msg, GraphQLError) else str(msg)
            message = _QUOTED_VALUE.sub(r"\1 ...", text)
        logger.info("GraphQL request %s refused: %r", request_id, message)
