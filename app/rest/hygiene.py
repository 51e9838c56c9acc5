"""Request hygiene: what must hold before Connexion routes and validates a request.

- Media types: Connexion matches them case-sensitively and lets a body with no
  Content-Type through unvalidated, straight to the handler. Media types are
  case-insensitive (RFC 9110), and a body we cannot interpret is a 415.
- Paths: a control character in a path parameter (``%0A``) matches a route but
  not the operation lookup of Connexion's later middlewares, which then skip
  security and validation. No route of ours has one: such a path is a 404.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import BadRequest, NotFound

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class PathMiddleware:
    """Refuse paths with control characters before anything routes them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and _has_control(scope["path"]):
            raise NotFound("No such endpoint")
        await self.app(scope, receive, send)


def _has_control(path: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path)


class MediaTypeMiddleware:
    """Lower-case the media type; refuse a body that comes without one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _BODY_METHODS:
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type")
            has_body = headers.get(b"content-length", b"0") not in (b"0", b"") or (
                b"transfer-encoding" in headers
            )
            if content_type is None and has_body:
                raise BadRequest(
                    "Content-Type is required for a request body",
                    details={"supported": ["application/json", "multipart/form-data"]},
                    status=415,
                )
            if content_type is not None:
                scope["headers"] = [
                    (k, _lower_media_type(v) if k == b"content-type" else v)
                    for k, v in scope["headers"]
                ]
        await self.app(scope, receive, send)


def _lower_media_type(value: bytes) -> bytes:
    # Only the type/subtype is case-insensitive; parameters such as a multipart
    # boundary must keep their case.
    media_type, separator, parameters = value.partition(b";")
    return media_type.strip().lower() + separator + parameters
