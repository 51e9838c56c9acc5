"""The real server: two workers share one rate-limit budget in Redis, or refuse.

`ltb serve --workers 2` runs gunicorn with two uvicorn workers on PostgreSQL and the
machine's Redis; gunicorn's access log carries the pid of the worker that served
each request, so the test can show both workers spent the one budget.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
import redis

from tests.support.live_server import LTB, LiveServer, live_server
from tests.support.redis import REDIS_URL
from tests.support.redis import redis_prefix as shared_redis_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ADMIN_PASSWORD = "e2e-rate-limit-admin"
# 1 request/s with bursts of 19: 20 per second, 29 per ten seconds, per user.
RATE, BURST = 1, 19
LOGIN_LIMIT = 6
CONNECTIONS = 8
# uvicorn's access line, behind the pid gunicorn.conf.py puts in front of it.
ACCESS_LINE = re.compile(r'^\[(\d+)\] \S+ - "(\w+) (\S+) HTTP/[\d.]+" (\d{3})', re.M)


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL: several workers refuse SQLite."""
    return postgres_url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own, removed afterwards."""
    with shared_redis_prefix() as prefix:
        yield prefix


def fire(server: LiveServer, count: int) -> list[int]:
    """Send ``count`` authenticated requests over fresh concurrent connections."""

    def one(_: int) -> int:
        # A new connection each time, so that both workers accept some of them.
        response = httpx2.get(
            f"{server.base_url}/v1/providers",
            headers={
                "Authorization": server.client.headers["Authorization"],
                "Connection": "close",
            },
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        return list(pool.map(one, range(count)))


def login_with_forwarded_for(server: LiveServer, forwarded_for: str) -> int:
    """A failing login whose X-Forwarded-For claims another client address."""
    return httpx2.post(
        f"{server.base_url}/v1/auth/login",
        json={"username": "admin", "password": "wrong-password"},
        headers={"X-Forwarded-For": forwarded_for, "Connection": "close"},
        timeout=30,
    ).status_code


def served_by(log: str, path: str) -> Counter[tuple[int, int]]:
    """(worker pid, status) -> how many requests for ``path`` the access log shows."""
    return Counter(
        (int(pid), int(status))
        for pid, _method, logged_path, status in ACCESS_LINE.findall(log)
        if logged_path == path
    )


def wait_for_access_lines(server: LiveServer, path: str, count: int) -> str:
    """The server log, once it shows ``count`` requests for ``path``."""
    deadline = time.monotonic() + 10
    while True:
        log = server.log()
        if sum(served_by(log, path).values()) >= count or time.monotonic() > deadline:
            return log
        time.sleep(0.1)


def test_two_workers_admit_exactly_one_shared_budget(
    tmp_path: Path, database_url: str, redis_prefix: str
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "LTB_REDIS_PREFIX": redis_prefix,
        "RATE_LIMIT": str(RATE),
        "RATE_LIMIT_BURST": str(BURST),
        "LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT}/minute",
    }
    with live_server(tmp_path, env, ADMIN_PASSWORD, args=["--workers", "2"]) as server:
        first = fire(server, 40)
        time.sleep(1.2)  # the one-second window empties; the ten-second one does not
        second = fire(server, 40)
        log = wait_for_access_lines(server, "/v1/providers", 80)
        with redis.Redis.from_url(REDIS_URL) as connection:
            keys = connection.keys(f"{redis_prefix}:*")

    admitted = first.count(200) + second.count(200)
    served = served_by(log, "/v1/providers")
    admitting_pids = {pid for pid, status in served if status == 200}

    assert sorted(set(first + second)) == [200, 429]
    # One burst of 20 in the first second, then only what the ten-second window
    # leaves: 10*1+19 = 29 in all, not 29 per worker.
    assert first.count(200) >= RATE + BURST
    assert admitted == 10 * RATE + BURST
    assert len(admitting_pids) == 2
    assert sum(n for (_, status), n in served.items() if status == 200) == admitted
    assert keys


def test_a_local_caller_cannot_pick_its_address_with_x_forwarded_for(
    tmp_path: Path, database_url: str, redis_prefix: str
) -> None:
    # No TRUSTED_PROXIES: uvicorn's own default would trust 127.0.0.1.
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "LTB_REDIS_PREFIX": redis_prefix,
        "LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT}/minute",
    }
    with (
        live_server(tmp_path, env, ADMIN_PASSWORD, args=["--workers", "2"]) as server,
        ThreadPoolExecutor(CONNECTIONS) as pool,
    ):
        statuses = list(
            pool.map(
                lambda i: login_with_forwarded_for(server, f"203.0.113.{i}"),
                range(12),
            )
        )

    # The admin's login when the server started spent one of the address's six.
    assert sorted(statuses) == [401] * (LOGIN_LIMIT - 1) + [429] * (13 - LOGIN_LIMIT)


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_login_budget(
    tmp_path: Path,
) -> None:
    env = {"TRUSTED_PROXIES": "127.0.0.1", "LOGIN_RATE_LIMIT": "1/minute"}
    with live_server(tmp_path, env, ADMIN_PASSWORD) as server:
        statuses = [
            login_with_forwarded_for(server, client)
            for client in ("198.51.100.7", "198.51.100.7", "198.51.100.8")
        ]

    assert statuses == [401, 429, 401]


def test_two_workers_without_redis_refuse_to_start(
    tmp_path: Path, database_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {
        "DATABASE_URL": database_url,
        "LTB_DATA_DIR": str(tmp_path),
        "LTB_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "BIND_ADDRESS": "127.0.0.1:0",
    }
    process = subprocess.Popen(
        [str(LTB), "serve", "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # killed as one group if it wrongly starts
    )
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise

    assert process.returncode != 0
    assert "REDIS_URL" in stderr.decode()
