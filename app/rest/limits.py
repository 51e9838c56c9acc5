"""Refuse request bodies over their limit with a 413 in the envelope.

Dataset uploads (multipart) may be large; a JSON body never needs to be, and
parsing a huge one ties up a worker, so JSON has a limit of its own.
"""

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

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, max_json_body_bytes: int
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_body_bytes = min(max_json_body_bytes, max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        limit = self.max_body_bytes
        for key, value in scope["headers"]:
            if key == b"content-type" and b"json" in value.lower():
                limit = self.max_json_body_bytes
        for key, value in scope["headers"]:
            if key == b"content-length":
                if not value.isdigit():
                    raise BadRequest("Content-Length is not a number")
                if int(value) > limit:
                    raise too_large(limit)

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counting_receive, send)
