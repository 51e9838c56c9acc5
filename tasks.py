#!/usr/bin/env python3
"""Set up and run LLM Test Bench with nothing but Python 3.11 and its standard tools.

    python3 tasks.py serve    # start the server on its embedded default
    python3 tasks.py test     # run the whole test suite (tox: lint, type, py)

Both create ./.venv on first use and install the project into it; later runs
reinstall only when pyproject.toml has changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".ltb-installed"
TOX = "tox>=4.20,<5"


def ensure_venv() -> None:
    """Create the virtual environment and install the project if needed."""
    # This file runs under whatever python3 the user has, so the check is real.
    if sys.version_info < (3, 11):  # noqa: UP036
        sys.exit("LLM Test Bench needs Python 3.11 or newer")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)

    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--editable", f"{ROOT}[test]", TOX], check=True)
    STAMP.write_text(wanted)


def main() -> int:
    """Run `serve` or `test`, passing any further arguments along."""
    if len(sys.argv) < 2 or sys.argv[1] not in {"serve", "test"}:
        print(__doc__)
        return 2
    ensure_venv()
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "serve":
        os.execv(str(BIN / "ltb"), [str(BIN / "ltb"), "serve", *rest])
    return subprocess.run([str(BIN / "tox"), "run", *rest], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
