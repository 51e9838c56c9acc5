"""The body size limit counts streamed bytes, not just Content-Length; chunked
bodies are read whole and given their Content-Length."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.errors import BadRequest
from app.rest.limits import BodySizeLimitMiddleware, ChunkedBodyMiddleware


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


def run_chunked(
    messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]
) -> list[tuple[list[tuple[bytes, bytes]], bytes]]:
    """What the app behind ChunkedBodyMiddleware sees: headers and body, per call."""
    seen: list[tuple[list[tuple[bytes, bytes]], bytes]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        seen.append((scope["headers"], body))

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        pass

    scope = {"type": "http", "method": "POST", "headers": headers}
    asyncio.run(ChunkedBodyMiddleware(app)(scope, receive, send))
    return seen


def test_a_chunked_body_reaches_the_app_whole_with_its_content_length() -> None:
    seen = run_chunked(
        [
            {"type": "http.request", "body": b"abc", "more_body": True},
            {"type": "http.request", "body": b"de", "more_body": False},
        ],
        [(b"content-type", b"text/plain"), (b"transfer-encoding", b"chunked")],
    )

    assert seen == [
        ([(b"content-type", b"text/plain"), (b"content-length", b"5")], b"abcde")
    ]


def test_a_client_gone_mid_body_reaches_no_app() -> None:
    seen = run_chunked(
        [
            {"type": "http.request", "body": b"abc", "more_body": True},
            {"type": "http.disconnect"},
        ],
        [(b"transfer-encoding", b"chunked")],
    )

    assert seen == []


def test_a_body_with_content_length_passes_untouched() -> None:
    headers = [(b"content-length", b"3")]

    seen = run_chunked(
        [{"type": "http.request", "body": b"abc", "more_body": False}], headers
    )

    assert seen == [(headers, b"abc")]
