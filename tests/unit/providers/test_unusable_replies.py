"""Replies that parse as HTTP but not as a completion are a clear provider error."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.errors import ErrorCode
from app.providers.base import ProviderError
from app.providers.config import ProviderConfig
from app.providers.registry import ProviderRegistry

GOOD_CHOICE = {
    "index": 0,
    "message": {"role": "assistant", "content": "hi"},
    "finish_reason": "stop",
}


def openai_reply(usage: object) -> bytes:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [GOOD_CHOICE],
            "usage": usage,
        }
    ).encode()


UNUSABLE = {
    "not json": b"<html>oops</html>",
    "string token count": openai_reply(
        {"prompt_tokens": 1, "completion_tokens": "x", "total_tokens": 1}
    ),
    "huge token count": openai_reply(
        {"prompt_tokens": 10**30, "completion_tokens": 1, "total_tokens": 1}
    ),
    "negative token count": openai_reply(
        {"prompt_tokens": -5, "completion_tokens": 1, "total_tokens": 1}
    ),
    "float token count": openai_reply(
        {"prompt_tokens": 1.5, "completion_tokens": 1, "total_tokens": 1}
    ),
    "usage not an object": openai_reply(["prompt_tokens", 1]),
    "choices not a list": json.dumps({"model": "m", "choices": "hi"}).encode(),
    "message not an object": json.dumps(
        {"model": "m", "choices": [{"message": "hi", "finish_reason": "stop"}]}
    ).encode(),
    "reply not an object": b"[1, 2, 3]",
}


@pytest.fixture
def replying() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(body: bytes) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("body", UNUSABLE.values(), ids=list(UNUSABLE))
def test_an_unusable_reply_is_a_503_invalid_response(
    replying: Any, body: bytes
) -> None:
    config = ProviderConfig(
        name="odd",
        kind="openai",
        base_url=replying(body),
        api_key_env=None,
        models={},
        max_retries=0,
    )

    async def call() -> None:
        registry = ProviderRegistry({"odd": config}, {})
        try:
            await registry.get("odd").complete("m", "hello")
        finally:
            await registry.aclose()

    with pytest.raises(ProviderError) as error:
        asyncio.run(call())

    assert error.value.code == ErrorCode.SERVICE_UNAVAILABLE
    assert error.value.details["reason"] == "invalid_response"
