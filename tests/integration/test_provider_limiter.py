"""The shared provider slots in the machine's Redis (app/providers/limiter.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis

from app.providers import limiter
from app.providers.limiter import SharedSlots
from tests.support.redis import REDIS_URL
from tests.support.redis import redis_prefix as shared_redis_prefix


@pytest.fixture
def prefix() -> Iterator[str]:
    with shared_redis_prefix() as value:
        yield value


def test_processes_sharing_slots_never_exceed_the_limit_together(prefix: str) -> None:
    async def scenario() -> int:
        # Two SharedSlots, two connections: what two worker processes have.
        processes = [SharedSlots(REDIS_URL, prefix) for _ in range(2)]
        in_flight = peak = 0

        async def call(slots: SharedSlots) -> None:
            nonlocal in_flight, peak
            async with slots.slot("fake", 3):
                in_flight += 1
                peak = max(peak, in_flight)
                await asyncio.sleep(0.02)
                in_flight -= 1

        await asyncio.gather(*(call(p) for p in processes for _ in range(12)))
        for slots in processes:
            await slots.aclose()
        return peak

    assert asyncio.run(scenario()) == 3
    with redis.Redis.from_url(REDIS_URL) as connection:
        assert connection.zcard(f"{prefix}:provider-slots:fake") == 0  # all returned


def test_the_slot_of_a_killed_process_comes_back_after_its_expiry(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limiter, "SLOT_TTL_MS", 400)
    key = f"{prefix}:provider-slots:fake"
    # What a process killed mid-call leaves: a slot taken, never given back nor
    # renewed.
    with redis.Redis.from_url(REDIS_URL) as connection:
        assert connection.eval(limiter._TAKE, 1, key, "dead", 1, 400) == 1

    async def scenario() -> float:
        alive = SharedSlots(REDIS_URL, prefix)
        started = time.monotonic()
        async with alive.slot("fake", 1):
            waited = time.monotonic() - started
        await alive.aclose()
        return waited

    waited = asyncio.run(scenario())
    assert 0.2 < waited < 3
