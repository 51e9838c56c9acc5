"""Readiness: can this worker serve now? The database, Redis and the Celery broker.

Each check runs on the event loop within CHECK_TIMEOUT_S, all at once, so a probe
answers within that time whatever is down. A check reports what failed as the
name of the exception (or "timed out"), never its text: driver messages can
quote host names, and a URL can hold a password.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from sqlalchemy import text

from app.store.database import Database

CHECK_TIMEOUT_S = 2.0
AMQP_PORT = 5672
AMQPS_PORT = 5671
# AMQP 0-9-1 starts with this header; a broker answers with a Connection.Start
# method frame (frame type 1) before anyone authenticates.
AMQP_PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
AMQP_METHOD_FRAME = 1
REDIS_SCHEMES = frozenset({"redis", "rediss"})
AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp"})


class CheckStatus(StrEnum):
    """The outcome of one check (openapi/openapi.yaml, ReadinessCheck)."""

    UP = "up"
    DOWN = "down"
    NOT_CONFIGURED = "not_configured"
    # A broker whose protocol this server cannot speak (e.g. SQS): not counted.
    UNCHECKED = "unchecked"


async def check_readiness(
    db: Database, redis_url: str | None, broker_url: str | None
) -> dict[str, dict[str, Any]]:
    """Every check by name: database, redis, broker."""
    names = ("database", "redis", "broker")
    results = await asyncio.gather(
        _timed(lambda: asyncio.to_thread(_ping_database, db)),
        _redis_check(redis_url),
        _broker_check(broker_url),
    )
    return dict(zip(names, results, strict=True))


def failing(checks: dict[str, dict[str, Any]]) -> list[str]:
    """The names of the checks that are down."""
    return [name for name, check in checks.items() if check["status"] == "down"]


async def _redis_check(url: str | None) -> dict[str, Any]:
    if url is None:
        return {"status": CheckStatus.NOT_CONFIGURED.value}
    return await _timed(lambda: _ping_redis(url))


async def _broker_check(url: str | None) -> dict[str, Any]:
    if url is None:
        return {"status": CheckStatus.NOT_CONFIGURED.value}
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme in REDIS_SCHEMES:
        return await _timed(lambda: _ping_redis(url))
    if scheme in AMQP_SCHEMES:
        return await _timed(lambda: _greet_amqp(url))
    return {
        "status": CheckStatus.UNCHECKED.value,
        "error": f"cannot probe a broker of scheme {scheme!r}",
    }


async def _timed(check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await check()
    except TimeoutError:
        error: str | None = f"timed out after {CHECK_TIMEOUT_S:g} s"
    except Exception as exc:  # whatever the failure, the dependency is down
        error = type(exc).__name__
    else:
        error = None
    result: dict[str, Any] = {
        "status": (CheckStatus.UP if error is None else CheckStatus.DOWN).value,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if error is not None:
        result["error"] = error
    return result


def _ping_database(db: Database) -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def _ping_redis(url: str) -> None:
    # A client per probe: the bus and the rate limiter keep their own connections,
    # and one short connection every few seconds costs Redis nothing.
    client = aioredis.Redis.from_url(
        url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S
    )
    try:
        await client.ping()  # type: ignore[misc]  # redis-py types it sync or async
    finally:
        await client.aclose()


async def _greet_amqp(url: str) -> None:
    # Opening the protocol, not a session: no credential is sent, and the broker
    # has answered as an AMQP broker once its Connection.Start arrives.
    parts = urlsplit(url)
    tls = parts.scheme == "amqps"
    port = parts.port or (AMQPS_PORT if tls else AMQP_PORT)
    reader, writer = await asyncio.open_connection(
        parts.hostname or "localhost", port, ssl=tls or None
    )
    try:
        writer.write(AMQP_PROTOCOL_HEADER)
        await writer.drain()
        frame = await reader.readexactly(7)  # type, channel, size
        if frame[0] != AMQP_METHOD_FRAME:
            raise ConnectionError("the broker did not answer AMQP 0-9-1")
    finally:
        writer.close()
        await writer.wait_closed()
