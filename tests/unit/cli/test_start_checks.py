"""What `ltb serve` and `ltb worker` check before they change anything or start."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.auth.service import AuthService
from app.cli import main
from app.store.database import Database
from app.store.models import User
from tests.support.postgres import temporary_database

ADMIN_PASSWORD = "chosen-admin-password-1"


def test_a_start_refused_on_the_providers_file_creates_no_admin(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("LTB_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("LTB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LTB_PROVIDERS_FILE", str(tmp_path / "nonexistent.yaml"))

    refused = main(["serve"])

    assert refused == 2
    assert "nonexistent.yaml: cannot be read" in capsys.readouterr().err
    db = Database(f"sqlite:///{tmp_path / 'ltb.sqlite3'}")
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
    # So the next start still takes the password it is given.
    auth = AuthService(db, "j" * 40, 60)
    auth.ensure_admin(ADMIN_PASSWORD)
    token, _ = auth.login("admin", ADMIN_PASSWORD)
    db.dispose()
    assert token.count(".") == 2


def test_ltb_worker_refuses_an_unmigrated_database_naming_ltb_db_upgrade(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def must_not_start(*_args: object) -> None:
        raise AssertionError("the worker started on an unmigrated database")

    monkeypatch.setattr("app.jobs.celery_app.make_celery", must_not_start)
    monkeypatch.setenv("LTB_EXECUTOR", "celery")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")

    with temporary_database() as url:
        monkeypatch.setenv("DATABASE_URL", url)
        refused = main(["worker"])

    assert refused == 2
    assert "run `ltb db upgrade`" in capsys.readouterr().err
