"""405 with an `Allow` header that lists every method the contract gives a path.

Connexion routes each operation as its own Starlette route, so a method a path
lacks matched only the first route of that path and `Allow` named one method of
several. RFC 9110 wants all of them; the contract says which they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

_HTTP_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH"})


def allowed_methods(
    paths: Mapping[str, Mapping[str, Any]],
) -> dict[str, frozenset[str]]:
    """Each path template of the contract and the methods it documents."""
    table: dict[str, frozenset[str]] = {}
    for template, item in paths.items():
        methods = {key.upper() for key in item if key.upper() in _HTTP_METHODS}
        if "GET" in methods:
            methods.add("HEAD")  # Starlette answers HEAD wherever GET is routed
        table[template] = frozenset(methods)
    return table


class AllowedMethodsMiddleware:
    """Answer a method the contract does not give a path with 405 and a full Allow."""

    def __init__(self, app: ASGIApp, methods: Mapping[str, frozenset[str]]) -> None:
        self.app = app
        # Templates with parameters are matched as patterns; a path without any is
        # looked up once here (every request of /health and friends would
        # otherwise try all the patterns).
        self.routes: list[tuple[re.Pattern[str], frozenset[str]]] = [
            (compile_path(template)[0], allowed)
            for template, allowed in methods.items()
            if "{" in template
        ]
        self.fixed: dict[str, frozenset[str]] = {
            template: allowed.union(*self._matching(template))
            for template, allowed in methods.items()
            if "{" not in template
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self._allowed(scope["path"])
            if allowed is not None and scope["method"] not in allowed:
                raise HTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
        await self.app(scope, receive, send)

    def _allowed(self, path: str) -> frozenset[str] | None:
        # Templates never overlap in our contract, but a path may match several
        # in general; the union is what the resource supports.
        fixed = self.fixed.get(path)
        if fixed is not None:
            return fixed
        found = self._matching(path)
        return frozenset().union(*found) if found else None

    def _matching(self, path: str) -> list[frozenset[str]]:
        return [allowed for pattern, allowed in self.routes if pattern.match(path)]
