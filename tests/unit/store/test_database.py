"""The database: a pool sized from the settings, and a schema check before serving."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from app.benchmarks.claims import RunClaims
from app.errors import ConfigurationError
from app.main import build_runtime, pool_size
from app.settings import Settings
from app.store.database import Database, PoolSize
from app.store.models import User
from tests.support.postgres import require_postgres, temporary_database

UNREACHABLE_POSTGRES = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def test_the_postgresql_pool_has_the_size_of_the_settings() -> None:
    settings = Settings.from_env(
        {
            "LTB_DB_POOL_SIZE": "4",
            "LTB_HANDLER_THREADS": "10",
            "LTB_DB_POOL_TIMEOUT": "7",
        }
    )

    db = Database(UNREACHABLE_POSTGRES, pool_size(settings))  # connects lazily

    assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (4, 6)
    assert db.engine.pool._timeout == 7
    db.dispose()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, PoolSize(10, 22, 30.0)),
        ({"LTB_HANDLER_THREADS": "8"}, PoolSize(10, 0, 30.0)),
        ({"LTB_DB_POOL_SIZE": "5", "LTB_DB_MAX_OVERFLOW": "0"}, PoolSize(5, 0, 30.0)),
    ],
)
def test_the_pool_covers_the_handler_threads_unless_told_otherwise(
    environ: dict[str, str], expected: PoolSize
) -> None:
    assert pool_size(Settings.from_env(environ)) == expected


def test_production_defaults_to_json_logs_and_no_migration_at_start() -> None:
    production = Settings.from_env({"LTB_ENV": "production"})
    development = Settings.from_env({})

    assert (production.log_format, production.auto_migrate) == ("json", False)
    assert (development.log_format, development.auto_migrate) == ("text", True)
    assert Settings.from_env({"LTB_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigurationError, match="LTB_LOG_FORMAT must be one of"):
        Settings.from_env({"LTB_LOG_FORMAT": "xml"})


def test_a_database_behind_the_code_is_refused_naming_ltb_db_upgrade(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'behind.sqlite3'}")

    with pytest.raises(ConfigurationError, match="run `ltb db upgrade`") as refused:
        db.require_current_schema()
    db.upgrade()
    db.require_current_schema()
    db.dispose()

    assert refused.value.details["database_revision"] is None
    assert refused.value.details["required_revision"]


def test_without_auto_migrate_the_server_does_not_migrate(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, jwt_secret="j" * 40, auto_migrate=False, environ={}
    )

    with pytest.raises(ConfigurationError, match="ltb db upgrade"):
        build_runtime(settings)
    Database(settings.resolved_database_url).upgrade()
    runtime = build_runtime(settings)
    runtime.db.dispose()


# What an argon2 hash looks like; any of it in a log line is a leak.
STORED_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0c2FsdA$bm90LWEtcmVhbC1oYXNo"


def log_a_duplicate_user(db: Database, caplog: pytest.LogCaptureFixture) -> str:
    """Insert a taken username with STORED_HASH, log the failure; the log text."""
    db.upgrade()
    with db.session() as session:
        session.add(User(username="taken", password_hash="first", role="viewer"))
    duplicate = User(username="taken", password_hash=STORED_HASH, role="viewer")
    with pytest.raises(IntegrityError) as failed, db.session() as session:
        session.add(duplicate)
    with caplog.at_level(logging.ERROR):
        logging.getLogger("test").error("insert failed", exc_info=failed.value)
    db.dispose()
    return caplog.text


def test_a_failed_insert_logged_on_sqlite_carries_no_parameter_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logged = log_a_duplicate_user(Database(f"sqlite:///{tmp_path / 'ltb.db'}"), caplog)

    assert "UNIQUE constraint failed: users.username" in logged
    assert "[SQL parameters hidden due to hide_parameters=True]" in logged
    assert STORED_HASH not in logged
    assert "argon2" not in logged


@pytest.mark.postgres
def test_a_failed_insert_logged_on_postgresql_carries_no_parameter_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    require_postgres()
    with temporary_database() as url:
        logged = log_a_duplicate_user(
            Database(url.replace("postgresql://", "postgresql+psycopg://")), caplog
        )

    assert "duplicate key value violates unique constraint" in logged
    assert "[SQL parameters hidden due to hide_parameters=True]" in logged
    assert STORED_HASH not in logged
    assert "argon2" not in logged


def test_every_engine_the_server_creates_hides_statement_parameters() -> None:
    db = Database(UNREACHABLE_POSTGRES)  # both connect lazily
    claims = RunClaims(UNREACHABLE_POSTGRES)

    assert db.engine.hide_parameters is True
    assert claims._engine is not None and claims._engine.hide_parameters is True
    db.dispose()
    claims.dispose()
