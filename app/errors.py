"""The project's exception hierarchy and the error codes of the documented envelope.

Every error that reaches a client is an ``LTBError`` (or is converted into one at the
edge), so it carries a code from the envelope, a human message and details, and
leaves the server through the one place that renders the envelope.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The codes of the error envelope, shared by every transport."""

    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


STATUS_OF_CODE: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMIT_EXCEEDED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
}


class LTBError(Exception):
    """Root of every error the project raises on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: ErrorCode | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code
        # A few HTTP statuses (405, 413, 415) have no code of their own in the
        # envelope; they travel as BAD_REQUEST with their own status.
        self._status = status

    @property
    def status(self) -> int:
        """The HTTP status that goes with this error."""
        return self._status or STATUS_OF_CODE[self.code]


class BadRequest(LTBError):
    """The request is well-formed HTTP but its content is not acceptable."""

    code = ErrorCode.BAD_REQUEST


class Unauthorized(LTBError):
    """No credential, or one that does not authenticate anybody."""

    code = ErrorCode.UNAUTHORIZED


class Forbidden(LTBError):
    """The caller is known but its role does not allow the operation."""

    code = ErrorCode.FORBIDDEN


class NotFound(LTBError):
    """The named resource does not exist."""

    code = ErrorCode.NOT_FOUND


class Conflict(LTBError):
    """The request conflicts with the current state of a resource."""

    code = ErrorCode.CONFLICT


class ServiceUnavailable(LTBError):
    """A dependency (a provider, the database) cannot serve the request now."""

    code = ErrorCode.SERVICE_UNAVAILABLE


class ConfigurationError(LTBError):
    """The server's configuration is unusable; raised at start-up."""

    code = ErrorCode.INTERNAL_ERROR
