"""Claims: at most one process runs a given benchmark (or Celery chunk) at a time.

A claim is a PostgreSQL session-level advisory lock held on a connection of its
own. The database releases it when that connection ends, however it ends: a
process killed with SIGKILL loses its connection and so its claims at once, and
the next process that tries claims the work. No lease to renew, no expiry to tune.

On SQLite there is only ever one process running benchmarks (several workers on
SQLite are refused at start-up, see Settings.check_shared_state), so every claim
succeeds there.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine.url import make_url
from sqlalchemy.pool import NullPool

from app.store.database import HIDE_PARAMETERS

logger = logging.getLogger(__name__)


class Claim:
    """Held work; ``release`` gives it back (a no-op claim on SQLite)."""

    def __init__(self, connection: Connection | None = None) -> None:
        self._connection = connection

    def release(self) -> None:
        """Give the work back by closing the claim's connection."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        # Closing a NullPool connection ends the database session, and the lock
        # with it; an explicit unlock first keeps that true of any pool.
        try:
            connection.execute(text("SELECT pg_advisory_unlock_all()"))
        except Exception:  # the connection is gone: so is the lock
            logger.debug("claim connection already closed", exc_info=True)
        finally:
            connection.close()


class RunClaims:
    """Claims on one database; ``try_claim`` never waits for another holder."""

    def __init__(self, url: str) -> None:
        self._postgres = make_url(url).get_backend_name() == "postgresql"
        # A connection per claim, closed on release: never back into a pool with a
        # lock still held.
        self._engine = (
            create_engine(url, poolclass=NullPool, hide_parameters=HIDE_PARAMETERS)
            if self._postgres
            else None
        )

    def try_claim(self, name: str) -> Claim | None:
        """Claim ``name`` (e.g. "run:<benchmark id>"); None if another holds it."""
        if self._engine is None:
            return Claim()
        connection = self._engine.connect()
        try:
            claimed = connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(name)}
            )
            # The lock outlives the transaction; the transaction must not stay
            # open ("idle in transaction") for as long as the work runs.
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if not claimed:
            connection.close()
            return None
        return Claim(connection)

    def dispose(self) -> None:
        """Close the engine (its connections are closed by their claims)."""
        if self._engine is not None:
            self._engine.dispose()


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a claim's name."""
    digest = hashlib.blake2b(f"ltb:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
