"""Requests that race for the same row: the loser gets the documented answer.

Each test makes the race happen deterministically: just before the request's
own write reaches the database, a competing request's write commits (through
the service layer, on another connection). That is the moment two requests
sent at once collide, and where a check made earlier by a SELECT no longer
holds: only the database's constraint or a conditional UPDATE can still tell.
Every test runs on SQLite and on PostgreSQL (when it answers), whose isolation
differs: what holds on one must hold on both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from app.benchmarks import runs
from app.benchmarks import service as benchmarks
from app.datasets import service as datasets
from app.datasets.service import VERSION_ATTEMPTS
from app.runtime import Runtime
from tests.integration.conftest import Server
from tests.integration.test_benchmarks import start_benchmark
from tests.integration.test_datasets import mmlu_dev_files, upload
from tests.integration.test_plugins import EXAMPLE, plugin_named
from tests.support.plugins import requires_test_plugins
from tests.support.postgres import require_postgres, temporary_database

ONE_ITEM = [("a.jsonl", b'{"input": "2+2?", "expected": "4"}\n')]


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the server's own SQLite file, or a throw-away PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    require_postgres()
    with temporary_database() as url:
        yield url


@pytest.fixture
def server(make_server: Callable[..., Server], database_url: str | None) -> Server:
    return make_server(database_url=database_url)


def runtime_of(server: Server) -> Runtime:
    return server.client.app.app.extensions["ltb"]


@contextmanager
def competing_write_before(
    server: Server, statement: str, competitor: Callable[[], Any], times: int = 1
) -> Iterator[list[Any]]:
    """Run ``competitor`` just before each of the next ``times`` statements that
    start with ``statement`` (e.g. "INSERT INTO users"); yield what it returned.

    The competitor's own statements do not trigger it again.
    """
    results: list[Any] = []
    competing = False

    def before_cursor_execute(*args: Any) -> None:
        nonlocal competing
        sql = args[2]
        if competing or len(results) >= times or not sql.startswith(statement):
            return
        competing = True
        try:
            results.append(competitor())
        finally:
            competing = False

    engine = runtime_of(server).db.engine
    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield results
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)


def test_a_username_taken_by_a_concurrent_request_is_a_409_like_a_sequential_one(
    server: Server,
) -> None:
    body = {"username": "raceuser", "password": "race-pass-123", "role": "viewer"}
    auth = runtime_of(server).auth

    with competing_write_before(
        server,
        "INSERT INTO users",
        lambda: auth.create_user("raceuser", "winner-pass-123", "viewer"),
    ) as winners:
        raced = server.client.post("/v1/users", headers=server.auth, json=body)
    sequential = server.client.post("/v1/users", headers=server.auth, json=body)
    users = server.client.get("/v1/users", headers=server.auth).json()["items"]

    assert [winner.username for winner in winners] == ["raceuser"]
    assert raced.status_code == 409
    assert raced.json()["error"] == {
        "code": "CONFLICT",
        "message": "User 'raceuser' already exists",
        "details": {},
    }
    assert raced.json()["error"] == sequential.json()["error"]
    assert [u["username"] for u in users] == ["admin", "raceuser"]
    assert [u["id"] for u in users if u["username"] == "raceuser"] == [winners[0].id]


def upload_raced_by_others(server: Server, times: int) -> tuple[list[Any], Any]:
    """Upload one item as 'arith' while, just before each of its first ``times``
    dataset inserts, another writer stores a two-item 'arith' of its own."""
    db = runtime_of(server).db
    other = [("b.jsonl", b'{"input": "3+3?", "expected": "6"}\n' * 2)]

    with competing_write_before(
        server,
        "INSERT INTO datasets",
        lambda: datasets.import_dataset(db, "arith", "jsonl", other, None),
        times=times,
    ) as winners:
        raced = upload(server, "arith", "jsonl", ONE_ITEM)
    return winners, raced


def test_an_upload_racing_another_under_its_name_becomes_the_next_version(
    server: Server,
) -> None:
    winners, raced = upload_raced_by_others(server, times=1)
    listed = server.client.get("/v1/datasets?name=arith", headers=server.auth).json()

    assert [winner["version"] for winner in winners] == [1]
    assert raced.status_code == 201, raced.text
    assert (raced.json()["version"], raced.json()["item_count"]) == (2, 1)
    assert [(d["version"], d["item_count"]) for d in listed["items"]] == [
        (2, 1),
        (1, 2),
    ]


def test_an_upload_that_loses_every_version_to_others_is_a_409_and_stores_nothing(
    server: Server,
) -> None:
    winners, raced = upload_raced_by_others(server, times=VERSION_ATTEMPTS)
    listed = server.client.get(
        "/v1/datasets?name=arith&page_size=100", headers=server.auth
    ).json()

    assert len(winners) == VERSION_ATTEMPTS == 8
    assert raced.status_code == 409
    assert raced.json()["error"] == {
        "code": "CONFLICT",
        "message": "Dataset 'arith' is being uploaded by too many requests at "
        "once; try again",
        "details": {"name": "arith"},
    }
    assert listed["total"] == 8
    assert {d["item_count"] for d in listed["items"]} == {2}


def test_of_two_cancels_at_once_one_succeeds_and_is_audited_the_other_is_a_409(
    make_server: Callable[..., Server], database_url: str | None, datasets_dir: Path
) -> None:
    server = make_server(delay_s=0.5, database_url=database_url)
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    benchmark_id = start_benchmark(server, concurrency=1)["benchmark_id"]
    wait_until_running(server, benchmark_id)
    rt = runtime_of(server)
    admin = rt.auth.principal_from_token(server.token)

    with competing_write_before(
        server,
        "UPDATE benchmarks",
        lambda: runs.cancel_benchmark(rt, benchmark_id, admin, "127.0.0.1"),
    ) as winners:
        raced = server.client.post(
            f"/v1/benchmarks/{benchmark_id}/cancel", headers=server.auth
        )
    audited = server.client.get(
        "/v1/audit-log?action=benchmark.cancelled", headers=server.auth
    ).json()

    assert [winner["status"] for winner in winners] == ["cancelled"]
    assert raced.status_code == 409
    assert raced.json()["error"] == {
        "code": "CONFLICT",
        "message": "A benchmark that is 'cancelled' cannot become 'cancelled'",
        "details": {"status": "cancelled", "requested": "cancelled"},
    }
    assert audited["total"] == 1
    assert [e["target"] for e in audited["items"]] == [benchmark_id]


def test_a_cancel_just_before_the_engine_starts_a_benchmark_keeps_it_cancelled(
    server: Server, datasets_dir: Path
) -> None:
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    rt = runtime_of(server)
    admin = rt.auth.principal_from_token(server.token)

    def cancel_the_pending_benchmark() -> str:
        (pending,) = benchmarks.list_benchmarks(rt.db, 0, 10, "pending")[0]
        benchmarks.cancel_benchmark(rt.db, pending["benchmark_id"], admin)
        return str(pending["benchmark_id"])

    # The engine's first write of a new benchmark is the one that starts it.
    with competing_write_before(
        server, "UPDATE benchmarks", cancel_the_pending_benchmark
    ) as cancelled:
        benchmark_id = start_benchmark(server)["benchmark_id"]
        wait_until(lambda: cancelled and rt.engine.running_count == 0)
    state = server.client.get(
        f"/v1/benchmarks/{benchmark_id}", headers=server.auth
    ).json()

    assert cancelled == [benchmark_id]
    assert (state["status"], state["started_at"]) == ("cancelled", None)
    assert state["completed_cells"] == 0
    assert server.provider.requests == 0


@requires_test_plugins
def test_a_first_decision_on_a_plugin_made_twice_at_once_is_stored_once(
    server: Server,
) -> None:
    plugin_id = plugin_named(server, EXAMPLE)["id"]
    plugins = runtime_of(server).plugins

    with competing_write_before(
        server,
        "INSERT INTO plugin_states",
        lambda: plugins.set_enabled(plugin_id, False, None),
    ) as winners:
        raced = server.client.patch(
            f"/v1/plugins/{plugin_id}", json={"enabled": False}, headers=server.auth
        )
    audited = server.client.get(
        "/v1/audit-log?action=plugin.disabled", headers=server.auth
    ).json()

    assert [changed for _, changed in winners] == [True]
    assert raced.status_code == 200, raced.text
    assert (raced.json()["status"], raced.json()["enabled"]) == ("disabled", False)
    # The competitor made the change; this request found it made.
    assert audited["total"] == 0


def wait_until_running(server: Server, benchmark_id: str) -> None:
    def running() -> bool:
        url = f"/v1/benchmarks/{benchmark_id}"
        return server.client.get(url, headers=server.auth).json()["status"] == "running"

    wait_until(running)


def wait_until(condition: Callable[[], Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {timeout} s")
        time.sleep(0.05)
