"""A small client of the REST API for the ``ltb bench`` commands.

It speaks only the documented contract: JSON bodies, the error envelope, bearer
tokens or X-API-Key. Failures become ``ClientError`` with a sentence for a person
(and never the credential); the command line turns them into a message and an
exit code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2

from app.auth.service import API_KEY_PREFIX

DEFAULT_SERVER = "http://127.0.0.1:3000"
TIMEOUT_S = 30.0


class ClientError(Exception):
    """A request that failed, said in one sentence."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ApiClient:
    """Calls one server with one token: a JWT, or an API key."""

    def __init__(self, server: str, token: str | None = None) -> None:
        self.server = server.rstrip("/")
        self._http = httpx2.Client(base_url=self.server, timeout=TIMEOUT_S)
        # An API key (ltb_...) goes in its own header; anything else is a JWT.
        if token and token.startswith(API_KEY_PREFIX):
            self._http.headers["X-API-Key"] = token
        elif token:
            self._http.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def login(self, username: str, password: str) -> None:
        """Exchange a password for a token, kept for the following requests."""
        body = self.request(
            "POST", "/v1/auth/login", json={"username": username, "password": password}
        )
        self._http.headers["Authorization"] = f"Bearer {body['token']}"

    def request(self, method: str, path: str, **options: Any) -> Any:
        """One JSON request; the decoded body, or ClientError."""
        try:
            response = self._http.request(method, path, **options)
        except httpx2.TransportError as e:
            raise self._unreachable(e) from None
        if response.status_code >= 400:
            raise _refusal(response)
        return response.json()

    def stream_lines(self, path: str, **options: Any) -> Iterator[bytes]:
        """A streamed GET, chunk by chunk (for exports), or ClientError."""
        try:
            with self._http.stream("GET", path, **options) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _refusal(response)
                yield from response.iter_bytes()
        except httpx2.TransportError as e:
            raise self._unreachable(e) from None

    def _unreachable(self, error: Exception) -> ClientError:
        return ClientError(
            f"cannot reach the server at {self.server} ({type(error).__name__}); "
            "is `ltb serve` running there? (set --server or LTB_SERVER)"
        )


def _refusal(response: httpx2.Response) -> ClientError:
    status = response.status_code
    try:
        error = response.json()["error"]
        message, details = error["message"], error.get("details") or {}
    except (ValueError, KeyError, TypeError):
        message, details = response.text[:200].strip() or response.reason_phrase, {}
    hint = {
        401: " (log in again, or check LTB_TOKEN)",
        403: " (your role does not allow this)",
        429: " (rate limited; wait and retry)",
    }.get(status, "")
    if details.get("errors"):
        message += ": " + "; ".join(
            f"{e.get('field') or ''} {e.get('message') or ''}".strip()
            for e in details["errors"][:5]
            if isinstance(e, dict)
        )
    return ClientError(f"the server answered {status}: {message}{hint}", status)
