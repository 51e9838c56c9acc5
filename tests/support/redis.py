"""Redis for tests: a key prefix of the test's own, removed afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

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
