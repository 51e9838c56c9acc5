"""Publish from anywhere, deliver on the event loop, across processes through Redis.

``EventBus.publish`` is safe from any thread and never blocks: it serialises the
event once and hands it to the loop. Listeners (the WebSocket hub, GraphQL
subscriptions) run on the loop and must not block either.

Two backends carry events between publishers and listeners:

- in-process (the embedded default): events go straight to this process' listeners;
- Redis pub/sub (``REDIS_URL``): events go to a Redis channel and every process,
  this one included, delivers what it reads from it, so with several workers every
  client sees every event, in the order each publisher sent them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Publish only if this event's rank beats the last one published under its key:
# events about one subject published by several processes (progress of a benchmark
# whose chunks run on several Celery workers) reach listeners in order, never a
# stale one after a newer one. Redis runs the script atomically.
_PUBLISH_IN_ORDER = """
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[2]) <= last then
    return -1
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', 86400)
return redis.call('PUBLISH', KEYS[2], ARGV[1])
"""

# Events waiting for Redis when it is slow or away; beyond this they are dropped
# (and counted), because a publisher such as the benchmark engine must not wait.
REDIS_OUTBOX_SIZE = 10_000
REDIS_RETRY_S = 1.0


@dataclass(frozen=True)
class Event:
    """One published event; ``payload`` is its JSON text, encoded once."""

    topic: str
    data: dict[str, Any]
    timestamp: int  # milliseconds since the epoch, as the WebSocket messages carry
    payload: str
    # (subject, rank): see publish().
    sequence: tuple[str, int] | None = None

    @classmethod
    def create(
        cls,
        topic: str,
        data: dict[str, Any],
        sequence: tuple[str, int] | None = None,
    ) -> Event:
        """An event stamped now; raises TypeError if ``data`` is not JSON."""
        timestamp = int(time.time() * 1000)
        payload = json.dumps(
            {"topic": topic, "data": data, "timestamp": timestamp},
            separators=(",", ":"),  # ASCII: no data can make a frame unsendable
        )
        return cls(topic, data, timestamp, payload, sequence)

    @classmethod
    def decode(cls, payload: str | bytes) -> Event:
        """The event of a payload read from another process."""
        text = payload.decode() if isinstance(payload, bytes) else payload
        body = json.loads(text)
        return cls(body["topic"], body["data"], int(body["timestamp"]), text)


Listener = Callable[[Event], None]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a thread without a loop: a handler, a to_thread call
        return None


class EventBus:
    """Fans events out to this process' listeners; see the module docstring."""

    def __init__(self, redis_url: str | None = None, prefix: str = "ltb") -> None:
        self._listeners: list[Listener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._redis_url = redis_url
        self._channel = f"{prefix}:events"
        self._outbox: asyncio.Queue[Event] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._client: aioredis.Redis | None = None
        self._subscribed = asyncio.Event()
        self.published = 0
        self.dropped = 0

    @property
    def backend(self) -> str:
        """ "redis" or "in-process"."""
        return "redis" if self._redis_url else "in-process"

    async def start(self) -> None:
        """Bind to the running loop; with Redis, start publishing and reading."""
        self._loop = asyncio.get_running_loop()
        if self._redis_url is None:
            return
        self._outbox = asyncio.Queue(REDIS_OUTBOX_SIZE)
        client = aioredis.Redis.from_url(self._redis_url, socket_connect_timeout=3)
        self._client = client
        self._tasks = [
            asyncio.create_task(self._send_to_redis(client), name="bus-send"),
            asyncio.create_task(self._read_from_redis(client), name="bus-read"),
        ]
        # Events published before the subscription is live would be missed by this
        # process; wait for it, but never block start-up on an absent Redis.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 3)

    async def stop(self) -> None:
        """Stop the Redis tasks; events published afterwards are dropped."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        # A publish cancelled mid-way leaves its pooled connection open otherwise.
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._loop = None

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event; returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return stop

    @property
    def listener_count(self) -> int:
        """How many listeners this process has."""
        return len(self._listeners)

    def publish(
        self,
        topic: str,
        data: dict[str, Any],
        sequence: tuple[str, int] | None = None,
    ) -> None:
        """Publish an event; from any thread, never blocking, never raising.

        ``sequence`` is (subject, rank): through Redis, an event whose rank is not
        above the last published for its subject, by any process, is dropped.
        Within one process events keep their order anyway.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # not serving (a CLI command, start-up or shutdown)
        try:
            event = Event.create(topic, data, sequence)
        except (TypeError, ValueError):
            # A bug in a publisher must not break what it was doing.
            logger.exception("event on %s is not JSON; dropped", topic)
            return
        handler = self._deliver if self._outbox is None else self._queue_for_redis
        if _running_loop() is loop:
            # Published on the loop (the request log, the engine): no wake-up
            # through the loop's self-pipe, a system call per event otherwise.
            loop.call_soon(handler, event)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(handler, event)

    def _deliver(self, event: Event) -> None:
        self.published += 1
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one broken listener must not starve the others
                logger.exception("event listener failed on %s", event.topic)

    def _queue_for_redis(self, event: Event) -> None:
        assert self._outbox is not None
        try:
            self._outbox.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                logger.warning("Redis is slow: %d events dropped", self.dropped)

    async def _send_to_redis(self, client: aioredis.Redis) -> None:
        assert self._outbox is not None
        while True:
            event = await self._outbox.get()
            while True:
                try:
                    await self._publish_one(client, event)
                    break
                except RedisError as e:
                    logger.warning("cannot publish to Redis (%s); retrying", e)
                    await asyncio.sleep(REDIS_RETRY_S)

    async def _publish_one(self, client: aioredis.Redis, event: Event) -> None:
        if event.sequence is None:
            await client.publish(self._channel, event.payload)
            return
        subject, rank = event.sequence
        order_key = f"{self._channel}:order:{subject}"
        # redis-py types eval() for its sync and async clients at once.
        published = client.eval(
            _PUBLISH_IN_ORDER, 2, order_key, self._channel, event.payload, rank
        )
        await cast("Awaitable[Any]", published)

    async def _read_from_redis(self, client: aioredis.Redis) -> None:
        while True:
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._subscribed.set()
                    async for message in pubsub.listen():
                        self._deliver_remote(message)
            except RedisError as e:
                logger.warning("lost the Redis event channel (%s); reconnecting", e)
                await asyncio.sleep(REDIS_RETRY_S)

    def _deliver_remote(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            event = Event.decode(message["data"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a malformed event on %s", self._channel)
            return
        self._deliver(event)
