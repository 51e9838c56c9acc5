"""A loopback OpenAI-compatible server that answers every request after a fixed delay.

It is the model of the engine benchmarks: POST /v1/chat/completions answers after
exactly --latency seconds (timed with the event loop's timer from the end of the
request) with a deterministic reply ("B") and its token usage; GET /v1/models lists
one model; GET /stats tells how many chat requests came, when the first came and
the last reply left (DELETE /stats resets them). It is a bare asyncio protocol
(HTTP/1.1 keep-alive, Content-Length bodies only) so that it is not itself the
bottleneck: `--prove` measures it with a trivial client of the same kind and
prints the rate it sustains against the ideal (concurrency / latency).

    python bench/latency_server.py --port 8123 --latency 0.25
    python bench/latency_server.py --prove --concurrency 256 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time

MODEL = "loopback-250ms"
ANSWER = "B"

_REPLY_BODY = json.dumps(
    {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 1796400000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 40, "completion_tokens": 1, "total_tokens": 41},
    },
    separators=(",", ":"),
).encode()
_MODELS_BODY = json.dumps(
    {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]}
).encode()


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


CHAT_REPLY = _response("200 OK", _REPLY_BODY)
MODELS_REPLY = _response("200 OK", _MODELS_BODY)
NOT_FOUND = _response("404 Not Found", b'{"error":{"message":"not found"}}')


class Stats:
    """Chat requests served and when the first came and the last reply left, so
    that every client's active span is measured by the same clock."""

    requests = 0
    first = 0.0
    last = 0.0

    @classmethod
    def reply(cls) -> bytes:
        body = json.dumps(
            {"requests": cls.requests, "first": cls.first, "last": cls.last}
        ).encode()
        return _response("200 OK", body)


class DelayedReplies(asyncio.Protocol):
    """One connection: parse requests as they come, answer each after the delay."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            method, path = head.split(" ", 2)[:2]
            path = path.split("?", 1)[0]
            if method == "POST" and path.endswith("/chat/completions"):
                if Stats.requests == 0:
                    Stats.first = time.time()
                Stats.requests += 1
                loop = asyncio.get_running_loop()
                loop.call_later(self.latency, self._reply)
            elif path == "/stats":
                if method == "DELETE":
                    Stats.requests, Stats.first, Stats.last = 0, 0.0, 0.0
                self._send(Stats.reply())
            elif method == "GET" and path.endswith("/models"):
                self._send(MODELS_REPLY)
            else:
                self._send(NOT_FOUND)

    def _reply(self) -> None:
        Stats.last = time.time()
        self._send(CHAT_REPLY)

    def _send(self, reply: bytes) -> None:
        # Replies of one connection go out in request order: the delay is the same.
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)


async def serve(port: int, latency: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: DelayedReplies(latency), "127.0.0.1", port, backlog=4096
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on 127.0.0.1:{port}", flush=True)
    async with server:
        await stop.wait()


# The trivial client of --prove: one keep-alive connection per concurrent caller.

_REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 60\r\n\r\n"
    + b'{"model":"m","messages":[{"role":"user","content":"x"}]}'.ljust(60)
)


class _Caller(asyncio.Protocol):
    """One keep-alive connection that sends the next request as a reply ends."""

    def __init__(self, until: float, finished: asyncio.Future[int]) -> None:
        self.until = until
        self.finished = finished
        self.buffer = b""
        self.done = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(_REQUEST)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        length = int(self.buffer.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length :]
        self.done += 1
        if time.monotonic() < self.until:
            self.transport.write(_REQUEST)
        else:
            self.transport.close()
            self.finished.set_result(self.done)


async def _caller(port: int, until: float, counts: list[int]) -> None:
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[int] = loop.create_future()
    await loop.create_connection(lambda: _Caller(until, finished), "127.0.0.1", port)
    counts.append(await finished)


async def prove(port: int, concurrency: int, seconds: float, latency: float) -> dict:
    counts: list[int] = []
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(*(_caller(port, until, counts) for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    served = sum(counts)
    # Every caller ends its last request after `until`: count on the real span.
    ideal = concurrency / latency
    return {
        "concurrency": concurrency,
        "latency_s": latency,
        "requests": served,
        "seconds": round(elapsed, 3),
        "rate_per_s": round(served / elapsed, 1),
        "ideal_rate_per_s": round(ideal, 1),
        "fraction_of_ideal": round(served / elapsed / ideal, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--prove", action="store_true")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if not args.prove:
        asyncio.run(serve(args.port, args.latency))
        return 0

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from common import free_port, started_process, stop_process

    port = free_port()
    command = [sys.executable, __file__, "--port", str(port)]
    command += ["--latency", str(args.latency)]
    with started_process(command, ready=f"http://127.0.0.1:{port}/v1/models") as proc:
        figures = asyncio.run(prove(port, args.concurrency, args.seconds, args.latency))
        stop_process(proc)
    print(json.dumps(figures, indent=2))
    return 0 if figures["fraction_of_ideal"] >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
