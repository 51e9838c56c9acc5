"""A scripted JSON HTTP server on 127.0.0.1 that stands in for a provider's API."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# How long a "hang" reply waits at most; the fixture releases it sooner on teardown.
HANG_LIMIT_S = 30.0


@dataclass
class SeenRequest:
    """One request as the fake upstream received it."""

    at: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeUpstream:
    """A server that answers with scripted replies, the last one repeating forever.

    A reply is a dict: {"status": int, "json": object, "headers": {...},
    "delay": seconds, "hang": bool, "hang_up": bool (close without answering)};
    every key is optional (200 with {} by default).
    """

    replies: list[dict[str, Any]]
    seen: list[SeenRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeUpstream:
        """Listen on a free loopback port and serve in a background thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # A short poll interval keeps shutdown() (and so each test) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging replies, stop serving and wait for every handler."""
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def answer(self, request: SeenRequest) -> dict[str, Any]:
        """Record request and pick the scripted reply for it."""
        with self._lock:
            self.seen.append(request)
            index = min(len(self.seen), len(self.replies)) - 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return self.replies[index]

    def done(self) -> None:
        """Note that a request has been answered."""
        with self._lock:
            self.in_flight -= 1

    def wait_released(self, timeout: float) -> None:
        """Block a hanging reply until the server stops."""
        self._released.wait(timeout)


def _handler_for(upstream: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    """Build a request handler class bound to upstream."""

    class Handler(BaseHTTPRequestHandler):
        """Record each POST and answer it from the script."""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length else b"{}"
            request = SeenRequest(
                at=time.monotonic(),
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=json.loads(raw or b"{}"),
            )
            reply = upstream.answer(request)
            try:
                self._reply(reply)
            finally:
                upstream.done()

        def _reply(self, reply: dict[str, Any]) -> None:
            """Send reply, or hold the connection open if it is a hang."""
            if reply.get("hang"):
                upstream.wait_released(HANG_LIMIT_S)
                return
            if reply.get("hang_up"):
                self.close_connection = True
                return
            time.sleep(reply.get("delay", 0))
            payload = json.dumps(reply.get("json", {})).encode()
            self.send_response(reply.get("status", 200))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.get("headers", {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler


@pytest.fixture
def upstream() -> Iterator[Callable[..., FakeUpstream]]:
    """Start fake upstreams on demand; every one is stopped after the test."""
    started: list[FakeUpstream] = []

    def start(*replies: dict[str, Any]) -> FakeUpstream:
        """Start a server answering with replies (200 {} if none)."""
        server = FakeUpstream(list(replies) or [{}]).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port that nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
