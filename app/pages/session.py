"""The pages' session: a JWT in HttpOnly, SameSite=Strict, path-limited cookies.

The login form sets two cookies holding the token ``POST /v1/auth/login`` would
issue: ``ltb_page`` (Path=/benchmarks) for the pages and their live fragment, and
``ltb_ws`` (Path=/ws) for the page's WebSocket. No /v1 operation reads a cookie,
so the JSON API keeps no ambient credential a cross-site request could use; the
pages only read. SameSite=Strict keeps browsers from sending either cookie on a
request another site starts, and /ws takes ``ltb_ws`` only with an Origin that
is this server itself (app/websocket/session.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from app.auth.service import AuthService, Principal
from app.errors import Unauthorized

PAGE_COOKIE = "ltb_page"
WS_COOKIE = "ltb_ws"
PAGE_COOKIE_PATH = "/benchmarks"
WS_COOKIE_PATH = "/ws"
# A JWT is a few hundred bytes; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 4096


def principal_from_cookie(auth: AuthService, token: str | None) -> Principal | None:
    """The user of a page session, or None when there is none or it is not valid."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        return auth.principal_from_token(token)
    except Unauthorized:
        return None


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a browser's Origin header names this server (its Host)."""
    if not origin or not host:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == host


def session_cookies(
    token: str, expires_at: datetime, secure: bool
) -> list[tuple[str, str, dict[str, object]]]:
    """The Set-Cookie arguments (name, value, options) of a new page session."""
    max_age = max(0, int((expires_at - datetime.now(UTC)).total_seconds()))
    return [
        (name, token, _options(path, secure) | {"max_age": max_age})
        for name, path in ((PAGE_COOKIE, PAGE_COOKIE_PATH), (WS_COOKIE, WS_COOKIE_PATH))
    ]


def cleared_cookies(secure: bool) -> list[tuple[str, str, dict[str, object]]]:
    """The Set-Cookie arguments that end a page session."""
    return [
        (name, "", _options(path, secure) | {"max_age": 0, "expires": 0})
        for name, path in ((PAGE_COOKIE, PAGE_COOKIE_PATH), (WS_COOKIE, WS_COOKIE_PATH))
    ]


def _options(path: str, secure: bool) -> dict[str, object]:
    return {"path": path, "httponly": True, "samesite": "Strict", "secure": secure}
