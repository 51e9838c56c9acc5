"""Refuse request bodies larger than MAX_BODY_BYTES with a 413 in the envelope."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import BadRequest


def too_large(limit: int) -> BadRequest:
    """The error for a body over the limit (413 travels as BAD_REQUEST)."""
    return BadRequest(
        f"Request body is larger than {limit} bytes",
        details={"max_body_bytes": limit},
        status=413,
    )


class BodySizeLimitMiddleware:
    """Check Content-Length up front, and count streamed bytes for chunked bodies."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        for key, value in scope["headers"]:
            if key == b"content-length":
                if not value.isdigit():
                    raise BadRequest("Content-Length is not a number")
                if int(value) > self.limit:
                    raise too_large(self.limit)

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise too_large(self.limit)
            return message

        await self.app(scope, counting_receive, send)
