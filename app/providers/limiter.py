"""Provider concurrency shared by every process: a counting semaphore in Redis.

Each provider's ``max_concurrency`` bounds one process' calls with an asyncio
semaphore. With several API workers and Celery workers that bound would be
multiplied by the number of processes, so with Redis configured every call also
takes one of the provider's slots in Redis, whichever process makes it.

A slot is a member of a sorted set scored by its expiry time. Taking one first
drops expired members, so the slots of a process killed mid-call come back after
``SLOT_TTL_MS``; a call that lasts longer renews its slot while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.providers.base import Completion, Provider, ProviderUnavailable

logger = logging.getLogger(__name__)

SLOT_TTL_MS = 15_000
RENEW_EVERY_S = 5.0
# How often a caller waiting for a slot looks again (with jitter, so that the
# waiters of several processes do not all ask at once).
POLL_S = 0.02

# Drop expired slots; take one if fewer than the limit are held. Redis runs a script
# atomically, and its own clock serves every process.
_TAKE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[3]), ARGV[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return 1
end
return 0
"""
_RENEW = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if redis.call('ZADD', KEYS[1], 'XX', 'CH', ms + tonumber(ARGV[2]), ARGV[1]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


class SharedSlots:
    """The Redis slots of every provider; one client, on the loop that uses it."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._redis_url = redis_url
        self._prefix = prefix
        self._client: aioredis.Redis | None = None

    def _connection(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self._redis_url, socket_connect_timeout=3
            )
        return self._client

    @contextlib.asynccontextmanager
    async def slot(self, provider: str, limit: int) -> AsyncIterator[None]:
        """Hold one of ``limit`` slots of ``provider`` for the duration of the block."""
        client = self._connection()
        key = f"{self._prefix}:provider-slots:{provider}"
        token = uuid.uuid4().hex
        try:
            while not await _script(client, _TAKE, key, token, limit, SLOT_TTL_MS):
                await asyncio.sleep(POLL_S * (0.5 + random.random()))
        except RedisError as e:
            raise ProviderUnavailable(
                "The shared provider limit in Redis cannot be reached",
                provider=provider,
            ) from e
        renewing = asyncio.create_task(self._renew(client, key, token))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            # Given back even when the caller is cancelled; if Redis is away, the
            # slot expires by itself.
            with contextlib.suppress(RedisError):
                await asyncio.shield(client.zrem(key, token))

    async def _renew(self, client: aioredis.Redis, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            try:
                await _script(client, _RENEW, key, token, SLOT_TTL_MS)
            except RedisError as e:
                logger.warning("cannot renew a provider slot in Redis: %s", e)

    async def aclose(self) -> None:
        """Close the Redis client (it is created again on next use)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _script(
    client: aioredis.Redis, script: str, key: str, *args: str | int
) -> Any:
    # redis-py types eval() for both its sync and async clients at once.
    return await cast("Awaitable[Any]", client.eval(script, 1, key, *args))


class LimitedProvider:
    """A provider whose calls each hold a shared slot for the whole call."""

    def __init__(self, provider: Provider, slots: SharedSlots, limit: int) -> None:
        self.name = provider.name
        self._provider = provider
        self._slots = slots
        self._limit = limit

    async def complete(
        self,
        model: str,
        prompt: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        system: str | None = None,
    ) -> Completion:
        """The wrapped provider's completion, once a shared slot is free."""
        async with self._slots.slot(self.name, self._limit):
            return await self._provider.complete(
                model,
                prompt,
                max_tokens=max_tokens,
                temperature=temperature,
                system=system,
            )

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self._provider.aclose()
