"""The one place errors leave the REST transport: the documented error envelope."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from app.errors import ErrorCode, LTBError
from app.rest.request_id import REQUEST_ID_HEADER, current_request_id

logger = logging.getLogger(__name__)

# HTTP statuses that reach us from routing or Connexion, and their envelope code.
_CODE_OF_STATUS = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    409: ErrorCode.CONFLICT,
    429: ErrorCode.RATE_LIMIT_EXCEEDED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


def envelope(
    code: ErrorCode, message: str, details: dict[str, Any] | None, request_id: str
) -> dict[str, Any]:
    """The error envelope every transport returns."""
    return {
        "error": {"code": str(code), "message": message, "details": details or {}},
        "request_id": request_id,
        "timestamp": datetime.now(UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
    }


def _response(
    status: int,
    code: ErrorCode,
    message: str,
    details: dict[str, Any] | None,
    request: ConnexionRequest,
    headers: dict[str, str] | None = None,
) -> ConnexionResponse:
    request_id = current_request_id(request.scope)
    body = envelope(code, message, details, request_id)
    return ConnexionResponse(
        status_code=status,
        body=json.dumps(body, separators=(",", ":")),
        content_type="application/json",
        headers={**(headers or {}), REQUEST_ID_HEADER: request_id},
    )


def render_project_error(
    request: ConnexionRequest, exc: Exception
) -> ConnexionResponse:
    """Render one of our own errors."""
    assert isinstance(exc, LTBError)
    # repr(): messages can quote client input, which must not forge log lines.
    logger.info("request refused: %s %r", exc.code, exc.message)
    return _response(exc.status, exc.code, exc.message, exc.details, request)


def render_problem(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Render Connexion's problems (validation, auth, media type) as the envelope."""
    assert isinstance(exc, ProblemException)
    status = exc.status or 500
    code = _CODE_OF_STATUS.get(status, _fallback_code(status))
    message = str(exc.detail or exc.title or "Request failed")
    details: dict[str, Any] = {}
    if status == 400:
        details = {"errors": [{"field": None, "message": message}]}
    return _response(status, code, message, details, request)


def render_http_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Render routing errors (404, 405, 415 ...) as the envelope."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if 300 <= status < 400:
        # Flask's slash-merging redirects would send clients to a URL built from
        # their own Host header; no endpoint of ours redirects.
        status = 404
    code = _CODE_OF_STATUS.get(status, _fallback_code(status))
    message = _HTTP_MESSAGES.get(status, str(exc.detail))
    headers = dict(exc.headers or {})
    return _response(status, code, message, {}, request, headers)


def render_unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Log an unexpected failure with its traceback; tell the client nothing inside."""
    request_id = current_request_id(request.scope)
    logger.error(
        "unexpected error in %s %s (request %s)",
        request.method,
        request.url.path,
        request_id,
        exc_info=exc,
    )
    return _response(
        500,
        ErrorCode.INTERNAL_ERROR,
        "An unexpected error occurred; quote the request id when reporting it",
        {},
        request,
    )


_HTTP_MESSAGES = {
    404: "No such endpoint",
    405: "Method not allowed on this endpoint",
    415: "Unsupported media type",
}


def _fallback_code(status: int) -> ErrorCode:
    return ErrorCode.BAD_REQUEST if status < 500 else ErrorCode.INTERNAL_ERROR
