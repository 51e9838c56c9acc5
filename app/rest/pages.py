"""The results page of a benchmark (HTML), its live fragment, login and assets.

These operations take no API credential (they are public in the permission
table); each page handler checks the page session cookie itself, and the role it
carries against ``get_benchmark``, the operation whose data the page shows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import flask

from app.auth.permissions import authorize
from app.auth.service import Principal
from app.errors import Forbidden, NotFound, Unauthorized
from app.pages import assets, session
from app.pages.render import PAGE_HEADERS, render
from app.pages.view import page_model
from app.rest.context import client_address, runtime


def benchmark_page(id_: str, ltb_page: str | None = None) -> flask.Response:
    """The whole page; without a valid session, a redirect to the login form."""
    viewer = _viewer()
    if viewer is None:
        return _see(_login_path(id_))
    try:
        model = page_model(runtime(), id_, viewer)
    except NotFound:
        return _not_found(id_)
    return _html(render("page.html", **model))


def benchmark_page_fragment(id_: str, ltb_page: str | None = None) -> flask.Response:
    """The results section alone, which the page's script swaps in."""
    viewer = _viewer()
    if viewer is None:
        # The script reloads the page when it lands here, which leads to the form.
        return _see(_login_path(id_))
    try:
        model = page_model(runtime(), id_, viewer)
    except NotFound:
        return _not_found(id_)  # the script swaps in successful answers only
    return _html(render("results.html", **model))


def benchmark_page_login_form(id_: str, failed: bool = False) -> flask.Response:
    """The login form; it holds no data, so it needs no session."""
    return _html(render("login.html", login_path=_login_path(id_), failed=failed))


def benchmark_page_login(id_: str, body: dict[str, Any]) -> flask.Response:
    """Check the password; on success set the session cookies and go to the page."""
    _require_same_origin()
    try:
        token, expires_at = runtime().auth.login(
            body["username"], body["password"], client_address()
        )
    except Unauthorized:
        return _see(_login_path(id_) + "?failed=true")
    response = _see(_page_path(id_))
    for name, value, options in session.session_cookies(token, expires_at, _secure()):
        response.set_cookie(name, value, **options)  # type: ignore[arg-type]
    return response


def benchmark_page_logout(id_: str) -> flask.Response:
    """Clear the session cookies (the token itself expires on its own)."""
    _require_same_origin()
    response = _see(_page_path(id_))
    for name, value, options in session.cleared_cookies(_secure()):
        response.set_cookie(name, value, **options)  # type: ignore[arg-type]
    return response


def page_asset(asset: str) -> tuple[bytes, int, dict[str, str]]:
    """The page's script or style sheet, from this server."""
    content, media_type = assets.asset(asset)
    return content, 200, {"Content-Type": media_type, **assets.ASSET_HEADERS}


def _viewer() -> Principal | None:
    # The cookie is read here, not declared as a security scheme: no /v1
    # operation can then be reached with it.
    principal = session.principal_from_cookie(
        runtime().auth, flask.request.cookies.get(session.PAGE_COOKIE)
    )
    if principal is not None:
        authorize("get_benchmark", principal.role)
    return principal


def _require_same_origin() -> None:
    # Login CSRF: another site's form must not sign a browser in (or out).
    # Browsers send Origin with every form POST; tools without it are not
    # browsers and carry no ambient cookie to abuse.
    origin = flask.request.headers.get("Origin")
    if origin is not None and not session.same_origin(
        origin, flask.request.headers.get("Host")
    ):
        raise Forbidden(
            "Sign-in and sign-out are accepted from this server's pages only"
        )


def _secure() -> bool:
    return flask.request.scheme == "https"


def _page_path(benchmark_id: str) -> str:
    return f"/benchmarks/{quote(benchmark_id, safe='')}"


def _login_path(benchmark_id: str) -> str:
    return _page_path(benchmark_id) + "/login"


def _see(location: str) -> flask.Response:
    response = flask.Response(
        render("see.html", location=location), status=303, headers=PAGE_HEADERS
    )
    response.headers["Location"] = location
    return response


def _html(text: str, status: int = 200) -> flask.Response:
    return flask.Response(text, status=status, headers=PAGE_HEADERS)


def _not_found(benchmark_id: str) -> flask.Response:
    # A page for a browser, not the API's JSON envelope; the id is escaped by the
    # template (autoescape), as everything the pages show.
    return _html(render("not_found.html", benchmark_id=benchmark_id), status=404)
