"""The body size limit counts streamed bytes, not just Content-Length."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.errors import BadRequest
from app.rest.limits import BodySizeLimitMiddleware


async def read_all(scope: dict[str, Any], receive: Any, send: Any) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)


def run(chunks: list[bytes], headers: list[tuple[bytes, bytes]], limit: int) -> None:
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        pass

    middleware = BodySizeLimitMiddleware(
        read_all, max_body_bytes=limit, max_json_body_bytes=limit
    )
    scope = {"type": "http", "headers": headers}
    asyncio.run(middleware(scope, receive, send))


def test_a_streamed_body_over_the_limit_raises_413() -> None:
    with pytest.raises(BadRequest, match="larger than 10 bytes") as error:
        run([b"x" * 6, b"x" * 6], [], limit=10)

    assert error.value.status == 413


def test_a_declared_length_over_the_limit_raises_before_reading() -> None:
    with pytest.raises(BadRequest) as error:
        run([b""], [(b"content-length", b"11")], limit=10)

    assert error.value.status == 413


def test_a_body_within_the_limit_passes() -> None:
    run([b"x" * 5, b"x" * 5], [(b"content-length", b"10")], limit=10)


def test_a_non_numeric_content_length_is_a_400() -> None:
    with pytest.raises(BadRequest) as error:
        run([b""], [(b"content-length", b"ten")], limit=10)

    assert error.value.status == 400
