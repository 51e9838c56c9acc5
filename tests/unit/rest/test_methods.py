"""405 answers name every method the contract gives a path."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.exceptions import HTTPException

from app.rest.methods import AllowedMethodsMiddleware

METHODS = {
    "/v1/things": frozenset({"GET", "HEAD", "POST"}),
    "/v1/things/{thing_id}": frozenset({"GET", "HEAD", "DELETE"}),
    # A fixed path that the template above matches too: both apply.
    "/v1/things/export": frozenset({"PUT"}),
}


def call(method: str, path: str) -> list[str]:
    """What reached the app; raises the 405 the middleware answers with."""
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    middleware = AllowedMethodsMiddleware(app, METHODS)
    scope = {"type": "http", "method": method, "path": path}
    asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    return reached


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/v1/things", "GET, HEAD, POST"),
        ("POST", "/v1/things/7", "DELETE, GET, HEAD"),
        ("POST", "/v1/things/export", "DELETE, GET, HEAD, PUT"),
    ],
)
def test_a_method_the_path_lacks_is_a_405_naming_all_it_has(
    method: str, path: str, allow: str
) -> None:
    with pytest.raises(HTTPException) as answer:
        call(method, path)

    assert answer.value.status_code == 405
    assert answer.value.headers == {"Allow": allow}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/things"),
        ("DELETE", "/v1/things/7"),
        ("PUT", "/v1/things/export"),
        ("GET", "/v1/things/export"),
        ("GET", "/no/such/path"),  # not ours to answer: the router's 404
    ],
)
def test_other_requests_pass_through(method: str, path: str) -> None:
    assert call(method, path) == [path]
