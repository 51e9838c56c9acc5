"""Production: `ltb serve` never migrates; `ltb db upgrade` does, once, and says so.

Errors a first user meets (a database down, a bad port) are one `ltb:` line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.store.database import _alembic_config
from tests.support.llm_server import free_loopback_port

# `ltb` runs the code PYTHONPATH names (this checkout when the tests are run so).
LTB = Path(sys.executable).parent / "ltb"
DB_PASSWORD = "unreachable-db-secret-7"


def run(
    command: list[str], tmp_path: Path, **overrides: str
) -> subprocess.CompletedProcess[str]:
    env = (
        {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        | {
            "LTB_ENV": "production",
            "LTB_DATA_DIR": str(tmp_path),
            "JWT_SECRET": "p" * 40,
            "LTB_ADMIN_PASSWORD": "a-strong-admin-password",
            "BIND_ADDRESS": "127.0.0.1:0",
        }
        | overrides
    )
    return subprocess.run(
        [str(LTB), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_in_production_refuses_a_database_that_is_behind(tmp_path: Path) -> None:
    refused = run(["serve"], tmp_path)
    upgraded = run(["db", "upgrade"], tmp_path)

    assert refused.returncode == 2
    assert "run `ltb db upgrade`" in refused.stderr
    assert "a-strong-admin-password" not in refused.stderr
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.startswith("applied ")
    assert "migration(s): " in upgraded.stdout


def test_db_upgrade_says_what_it_applied_then_that_nothing_was_left(
    tmp_path: Path,
) -> None:
    first = run(["db", "upgrade"], tmp_path)
    again = run(["db", "upgrade"], tmp_path)

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert first.returncode == 0, first.stderr
    applied = first.stdout.strip().partition(": ")[2].split(", ")
    assert first.stdout.startswith(f"applied {len(applied)} migration(s): ")
    assert applied[-1] == head
    assert len(applied) == len(set(applied)) > 1
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "database is up to date: no migration to apply"


@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve"], ["worker"]])
def test_an_unreachable_postgresql_is_one_line_without_the_password(
    tmp_path: Path, command: list[str]
) -> None:
    port = free_loopback_port()
    url = f"postgresql://ltb:{DB_PASSWORD}@127.0.0.1:{port}/ltb"

    result = run(
        command,
        tmp_path,
        DATABASE_URL=url,
        LTB_EXECUTOR="celery",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )

    assert result.returncode == 2
    shown = f"postgresql+psycopg://ltb:***@127.0.0.1:{port}/ltb"
    assert result.stderr.startswith(f"ltb: cannot use the database {shown}: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert DB_PASSWORD not in result.stderr + result.stdout


def test_a_port_out_of_range_is_refused_before_gunicorn(tmp_path: Path) -> None:
    result = run(["serve"], tmp_path, BIND_ADDRESS="127.0.0.1:99999")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "ltb: BIND_ADDRESS port must be 0 to 65535, got '127.0.0.1:99999'"
    )
    assert "Traceback" not in result.stderr
