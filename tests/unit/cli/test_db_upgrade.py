"""Production: `ltb serve` never migrates; `ltb db upgrade` does, once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LTB = Path(sys.executable).parent / "ltb"


def run(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "LTB_ENV": "production",
        "LTB_DATA_DIR": str(tmp_path),
        "JWT_SECRET": "p" * 40,
        "LTB_ADMIN_PASSWORD": "a-strong-admin-password",
        "BIND_ADDRESS": "127.0.0.1:0",
    }
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
    assert upgraded.stdout.strip() == "database is up to date"
