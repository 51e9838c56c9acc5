"""Throw-away PostgreSQL databases on the machine's server, one per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

ADMIN_URL = os.environ.get(
    "LTB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def postgres_available() -> str | None:
    """None when the server answers; otherwise why not."""
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as e:
        return f"PostgreSQL at {ADMIN_URL} is not reachable: {e}"


def require_postgres() -> None:
    """Skip the test when the server does not answer; in CI, fail it."""
    problem = postgres_available()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)


@contextmanager
def temporary_database() -> Iterator[str]:
    """Create a database of our own, yield its URL, and drop it afterwards."""
    name = f"ltb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
