"""A loopback server that speaks the OpenAI chat-completions wire format.

It answers with a reply function of the prompt, so tests know exactly what every
cell should score. It counts requests, can delay replies, and can fail on purpose.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A reply of None is a null message content, as when a model hits its token limit.
Reply = Callable[[str], str | None]


@dataclass
class FakeOpenAI:
    """State shared between the test and the server thread."""

    reply: Reply
    delay_s: float = 0.0
    # Fail the first N requests with this status (0: never fail).
    fail_first: int = 0
    fail_status: int = 500
    # Models whose every reply is a 200 with a body that is not JSON.
    garbage_for_models: frozenset[str] = frozenset()
    # Models whose replies carry no usage (some compatible servers omit it).
    no_usage_for_models: frozenset[str] = frozenset()
    requests: int = 0
    prompts: list[str] = field(default_factory=list)
    # When each request arrived (time.monotonic()), and the most requests that were
    # ever being answered at once (what a provider's concurrency limit bounds).
    arrivals: list[float] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def usage_for(self, prompt: str, text: str | None) -> dict[str, int]:
        """Token counts the fake reports: one token per whitespace-separated word."""
        prompt_tokens = len(prompt.split())
        completion_tokens = len(text.split()) if text is not None else 0
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }


def _handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length))
            prompt = request["messages"][-1]["content"]
            with state.lock:
                state.requests += 1
                number = state.requests
                state.prompts.append(prompt)
                state.arrivals.append(time.monotonic())
                state.in_flight += 1
                state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
            try:
                status, raw = self._answer(request, prompt, number)
            finally:
                # Counted out before the reply leaves: the client may send its next
                # request the moment it has this one's answer.
                with state.lock:
                    state.in_flight -= 1
            self._send_raw(status, raw)

        def _answer(
            self, request: dict[str, Any], prompt: str, number: int
        ) -> tuple[int, bytes]:
            if number <= state.fail_first:
                return state.fail_status, _json({"error": {"message": "fake failure"}})
            if request["model"] in state.garbage_for_models:
                return 200, b"<html>not a completion</html>"
            if state.delay_s:
                time.sleep(state.delay_s)
            text = state.reply(prompt)
            usage = {}
            if request["model"] not in state.no_usage_for_models:
                usage = {"usage": state.usage_for(prompt, text)}
            return 200, _json(
                {
                    "id": f"chatcmpl-{number}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop" if text is not None else "length",
                        }
                    ],
                }
                | usage,
            )

        def _send_raw(self, status: int, raw: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


class _QuietServer(ThreadingHTTPServer):
    # The default listen backlog of 5 refuses connections when a benchmark opens
    # dozens at once; a refused connection would be a spurious provider error.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a cancelled benchmark, a timeout test) is expected.
        pass


@contextmanager
def fake_openai(reply: Reply, **options: Any) -> Iterator[FakeOpenAI]:
    """Run a FakeOpenAI on a free loopback port for the duration of the block."""
    state = FakeOpenAI(reply=reply, **options)
    server = _QuietServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
