"""Request bodies: over their limit a 413 in the envelope; chunked ones read whole.

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


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ChunkedBodyMiddleware:
    """Read a chunked request body whole and give it its Content-Length.

    Connexion takes a body without Content-Length for an empty one (a chunked
    upload was refused as missing whatever it held), and Flask reads no more than
    Content-Length says. Connexion's validators hold every body in memory anyway,
    so reading it here first costs nothing more; ``BodySizeLimitMiddleware``,
    outside this one, stops the reading past the limit. Placed after security, so
    only a caller who may call the operation gets its body read.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_chunked(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        length = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: nobody to answer
            messages.append(message)
            length += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers = [
            (key, value)
            for key, value in scope["headers"]
            if key not in (b"transfer-encoding", b"content-length")
        ]
        headers.append((b"content-length", str(length).encode("ascii")))
        pending = iter(messages)

        async def replay() -> Message:
            return next(pending, None) or await receive()

        await self.app({**scope, "headers": headers}, replay, send)


def _is_chunked(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope["method"] in _BODY_METHODS
        and any(key == b"transfer-encoding" for key, _ in scope["headers"])
    )
