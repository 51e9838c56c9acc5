"""The hub: which connection listens to which topic, and the fan-out of events.

The hub is one listener of the event bus. For each event it finds the interested
connections and puts the encoded message in each one's bounded outbox without
waiting; a connection whose outbox is full is too slow to keep up, and is closed
rather than allowed to grow memory or hold back the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from app.events import Event, EventBus, Topic
from app.observability.metrics import OPEN_WEBSOCKETS
from app.websocket import messages
from app.websocket.messages import CloseCode

logger = logging.getLogger(__name__)

# How long a close may take before the connection is dropped without one: a client
# that stopped reading cannot receive the close frame either.
CLOSE_TIMEOUT_S = 2.0


class Connection:
    """One client: its subscriptions, and a bounded outbox drained by one sender."""

    def __init__(
        self, connection_id: str, send: Callable[[str], object], outbox_size: int
    ) -> None:
        self.id = connection_id
        self._send = send
        self.outbox: asyncio.Queue[str] = asyncio.Queue(outbox_size)
        self.topics: set[Topic] = set()
        # benchmark.progress for these benchmarks only; empty means all of them.
        self.benchmark_ids: set[str] = set()
        # Set when the connection must be closed, with this code.
        self.must_close = asyncio.Event()
        self.close_code = CloseCode.NORMAL

    def offer(self, text: str) -> bool:
        """Queue a message without waiting; False (and closing) when full."""
        if self.must_close.is_set():
            return False
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.request_close(CloseCode.TRY_AGAIN_LATER)
            return False
        return True

    def request_close(self, code: int) -> None:
        """Ask the session to close the connection with ``code``."""
        if not self.must_close.is_set():
            self.close_code = code
            self.must_close.set()

    def wants(self, event: Event) -> bool:
        """Whether this connection subscribed to the event."""
        if event.topic not in self.topics:
            return False
        if event.topic == Topic.BENCHMARK_PROGRESS and self.benchmark_ids:
            return event.data.get("benchmark_id") in self.benchmark_ids
        return True

    async def send_forever(self) -> None:
        """Send the outbox in order; one sender, so frames never interleave."""
        while True:
            text = await self.outbox.get()
            try:
                await self._send(text)  # type: ignore[misc]
            except Exception:  # the peer is gone, or a bug: either way, close
                logger.debug("websocket %s: send failed", self.id, exc_info=True)
                self.request_close(CloseCode.INTERNAL_ERROR)
                return


class Hub:
    """Every open connection of this process, fed from the event bus."""

    def __init__(self, events: EventBus) -> None:
        self._connections: dict[str, Connection] = {}
        self._stop_listening: Callable[[], None] | None = None
        self._events = events
        self.delivered = 0

    def start(self) -> None:
        """Start receiving events (on the loop)."""
        self._stop_listening = self._events.listen(self._on_event)

    def stop(self) -> None:
        """Stop receiving events."""
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None

    @property
    def open_connections(self) -> int:
        """How many clients are connected to this process."""
        return len(self._connections)

    def add(self, connection: Connection) -> None:
        """Register an open connection."""
        if connection.id not in self._connections:
            OPEN_WEBSOCKETS.labels("/ws").inc()
        self._connections[connection.id] = connection

    def remove(self, connection: Connection) -> None:
        """Forget a closed connection."""
        if self._connections.pop(connection.id, None) is not None:
            OPEN_WEBSOCKETS.labels("/ws").dec()

    def _on_event(self, event: Event) -> None:
        text: str | None = None
        for connection in list(self._connections.values()):
            if not connection.wants(event):
                continue
            text = text or messages.event(event.payload)  # encoded once per event
            if connection.offer(text):
                self.delivered += 1
            else:
                logger.info(
                    "websocket %s is not reading its events; closing it", connection.id
                )


async def close_quietly(close: Callable[[int], object], code: int) -> None:
    """Close a connection, giving up after CLOSE_TIMEOUT_S (the peer may be stuck)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await close(code)  # type: ignore[misc]
