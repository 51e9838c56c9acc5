"""Database engine, sessions and migrations."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.errors import ConfigurationError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# A PostgreSQL server that does not answer fails the connection after this long.
CONNECT_TIMEOUT_S = 10
# Every engine leaves statement parameters out of its errors: an IntegrityError
# (or any failed statement) that reaches a log must not carry a password hash, a
# key hash or a user's data with it. The SQL text itself holds only placeholders.
HIDE_PARAMETERS = True


@dataclass(frozen=True)
class PoolSize:
    """Connections one process keeps (size), may add when busy, and waits for."""

    size: int = 10
    max_overflow: int = 22
    timeout_s: float = 30.0


class Database:
    """One SQLAlchemy engine and its session factory for this process."""

    def __init__(self, url: str, pool: PoolSize | None = None) -> None:
        self.url = url
        self.engine = _create_engine(url, pool or PoolSize())
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @property
    def dialect(self) -> str:
        """The SQL dialect name: "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    def prepare(self, auto_migrate: bool) -> None:
        """Migrate to this code's schema, or (without auto_migrate) require it."""
        if auto_migrate:
            self.upgrade()
        else:
            self.require_current_schema()

    def upgrade(self) -> list[str]:
        """Apply every pending Alembic migration; return those applied, oldest first."""
        config = _alembic_config()
        script = ScriptDirectory.from_config(config)
        with self.engine.begin() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            pending = [
                revision.revision
                for revision in script.iterate_revisions("head", current or "base")
            ]
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        logger.debug(
            "database migrated to head: %s", self.engine.url.render_as_string()
        )
        return pending[::-1]

    def require_current_schema(self) -> None:
        """Refuse a database whose schema is not the one this code was written for."""
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        if current != head:
            raise ConfigurationError(
                f"The database schema is at revision {current or 'none (empty)'}, "
                f"this version of the server needs {head}: run `ltb db upgrade` "
                "(with the same DATABASE_URL) before starting the server",
                details={"database_revision": current, "required_revision": head},
            )

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _create_engine(url: str, pool: PoolSize) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        postgresql = parsed.get_backend_name() == "postgresql"
        return create_engine(
            url,
            pool_pre_ping=True,
            hide_parameters=HIDE_PARAMETERS,
            pool_size=pool.size,
            max_overflow=pool.max_overflow,
            pool_timeout=pool.timeout_s,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S} if postgresql else {},
        )

    if parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created readable by its owner only (it holds password and key hashes);
        # SQLite gives its -wal and -shm files the same mode.
        path.touch(mode=0o600, exist_ok=True)
    # Every connection that may be busy at once stays open: opening one costs a
    # file open and three PRAGMAs, and SQLAlchemy's default pool (5 + 10 that
    # close on return) reopened them for each request above five in flight (a
    # third of POST /v1/evaluations' CPU at 16 concurrent clients, py-spy).
    # An open SQLite connection is a file handle, with no server-side limit.
    engine = create_engine(
        url,
        pool_size=pool.size + pool.max_overflow,
        max_overflow=0,
        pool_timeout=pool.timeout_s,
        connect_args={"timeout": 30},
        hide_parameters=HIDE_PARAMETERS,
    )
    event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (progress polls) proceed while the engine writes cells;
    # foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
