"""Run claims on the machine's PostgreSQL, and ordered events through its Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from app.benchmarks.claims import RunClaims
from app.events import Event, EventBus
from tests.support.postgres import require_postgres, temporary_database
from tests.support.redis import REDIS_URL, redis_prefix


@pytest.fixture
def claims() -> Iterator[RunClaims]:
    require_postgres()
    with temporary_database() as url:
        claims = RunClaims(url.replace("postgresql://", "postgresql+psycopg://"))
        yield claims
        claims.dispose()


@pytest.mark.postgres
def test_work_is_claimed_by_one_holder_until_released(claims: RunClaims) -> None:
    other_process = RunClaims(claims._engine.url)  # type: ignore[union-attr]

    first = claims.try_claim("run:b1")
    assert first is not None
    assert other_process.try_claim("run:b1") is None
    assert other_process.try_claim("run:b2") is not None  # other work is free

    first.release()
    again = other_process.try_claim("run:b1")
    assert again is not None
    again.release()
    other_process.dispose()


@pytest.mark.postgres
def test_a_dead_holders_connection_gives_its_claims_back(claims: RunClaims) -> None:
    held = claims.try_claim("chunk:b1:3")
    assert held is not None
    # What SIGKILL does to a process' claims: its connection ends, unlocked.
    assert held._connection is not None
    held._connection.connection.dbapi_connection.close()  # type: ignore[union-attr]

    taken = claims.try_claim("chunk:b1:3")
    assert taken is not None
    taken.release()


def test_events_of_one_subject_from_several_processes_arrive_in_order() -> None:
    async def scenario(prefix: str) -> list[int]:
        processes = [EventBus(REDIS_URL, prefix) for _ in range(2)]
        for bus in processes:
            await bus.start()
        seen: list[int] = []
        processes[0].listen(lambda event: _record(seen, event))
        # Ranks as two workers counting stored cells would send them, the slow
        # one's older counts arriving after newer ones.
        for bus, rank in [(processes[0], 3), (processes[1], 5), (processes[0], 4)]:
            bus.publish("benchmark.progress", {"n": rank}, sequence=("b1", rank))
            await asyncio.sleep(0.1)
        processes[1].publish("benchmark.progress", {"n": 9}, sequence=("b1", 9))
        processes[1].publish("benchmark.progress", {"n": 1}, sequence=("b2", 1))
        await asyncio.sleep(0.3)
        for bus in processes:
            await bus.stop()
        return seen

    with redis_prefix() as prefix:
        assert asyncio.run(scenario(prefix)) == [3, 5, 9, 1]


def _record(seen: list[int], event: Event) -> None:
    seen.append(event.data["n"])
