"""`ltb user add` creates a user whose password can log in, from a pipe too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.auth.service import AuthService
from app.store.database import Database

LTB = Path(sys.executable).parent / "ltb"


def test_a_password_piped_on_stdin_creates_a_working_user(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in {"LTB_NEW_USER_PASSWORD"}
    } | {"LTB_DATA_DIR": str(tmp_path), "JWT_SECRET": "j" * 40}

    result = subprocess.run(
        [str(LTB), "user", "add", "piper", "--role", "viewer"],
        input="piped-password-1234\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "created user piper with role viewer" in result.stdout
    db = Database(f"sqlite:///{tmp_path / 'ltb.sqlite3'}")
    token, _ = AuthService(db, "j" * 40, 60).login("piper", "piped-password-1234")
    db.dispose()
    assert token.count(".") == 2
