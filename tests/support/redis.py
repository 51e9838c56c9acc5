"""Redis for tests: a key prefix of the test's own, removed afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from tests.support.llm_server import free_loopback_port

REDIS_URL = os.environ.get("LTB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextmanager
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards.

    The Redis server is shared with other tests and sessions: never flush it.
    """
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        connection.ping()
    except redis.RedisError as e:
        connection.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {e}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {e}")
    prefix = f"ltb-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        keys = list(connection.scan_iter(match=f"{prefix}:*"))
        if keys:
            connection.delete(*keys)
        connection.close()


class OwnRedisServer:
    """A redis-server of the test's own on a free loopback port, stopped by pid.

    Tests that stop Redis on purpose use this one, never the machine's shared
    server. Nothing is persisted (no RDB, no AOF), so a restart starts empty.
    """

    def __init__(self, password: str | None = None) -> None:
        self.port = free_loopback_port()
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        credential = f":{self.password}@" if self.password else ""
        return f"redis://{credential}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is not installed")
            pytest.skip("redis-server is not installed")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        if self.password:
            command += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis.from_url(self.url, socket_timeout=1) as client:
                    client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM to its pid) and wait for it to exit."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextmanager
def own_redis_server(password: str | None = None) -> Iterator[OwnRedisServer]:
    """A started OwnRedisServer, stopped at the end whatever happens."""
    server = OwnRedisServer(password)
    server.start()
    try:
        yield server
    finally:
        server.stop()
