"""A WebSocket client made by hand from a socket, for what real clients won't do:
stop reading, never answer pings, send broken frames (RFC 6455)."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from collections.abc import Mapping, Sequence
from typing import Any


class RawWebSocket:
    """A client connection whose every byte the test controls."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str = "/ws",
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        receive_buffer: int | None = None,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            # Before connecting, so the window the server sees is small too.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            # A list of pairs may name a header twice, as no real client does.
            *(f"{k}: {v}" for k, v in _pairs(headers)),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ", 2)[1])

    @property
    def local_port(self) -> int:
        """The client's port, as the server's log shows it."""
        port: int = self.sock.getsockname()[1]
        return port

    def send_frame(self, payload: bytes, opcode: int = 0x1, fin: bool = True) -> None:
        """Send one masked frame (clients must mask)."""
        mask = os.urandom(4)
        first = (0x80 if fin else 0) | opcode
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", first, 0x80 | length)
        elif length < 2**16:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_json(self, message: dict[str, Any]) -> None:
        """Send a JSON text frame."""
        self.send_frame(json.dumps(message).encode())

    def receive_frame(self) -> tuple[int, bytes]:
        """The next frame (opcode, payload); ConnectionError at end of stream."""
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        return first & 0x0F, self._read(length)

    def receive_json(self) -> dict[str, Any]:
        """The next text message, answering the server's pings on the way."""
        while True:
            opcode, payload = self.receive_frame()
            if opcode == 0x1:
                message: dict[str, Any] = json.loads(payload)
                return message
            if opcode == 0x9:
                self.send_frame(payload, opcode=0xA)
            elif opcode == 0x8:
                raise ConnectionClosed(close_code(payload))

    def close(self) -> None:
        """Drop the connection."""
        self.sock.close()

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("end of stream")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data


class ConnectionClosed(ConnectionError):
    """The server closed the connection with a close frame."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


def close_code(payload: bytes) -> int | None:
    """The code of a close frame's payload."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def _pairs(
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
) -> list[tuple[str, str]]:
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)
