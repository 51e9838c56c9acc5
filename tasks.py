#!/usr/bin/env python3
"""Set up and run LLM Test Bench with nothing but Python 3.11 and its standard tools.

    python3 tasks.py serve    # start the server on its embedded default
    python3 tasks.py test     # run the whole test suite (tox envs, see tox.ini)

Both create ./.venv on first use and install the project into it; later runs
reinstall only when pyproject.toml has changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
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
    # --no-compile: byte-compiling every installed module took most of the
    # install's time; what runs is compiled when first imported.
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--no-compile"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--editable", f"{ROOT}[test]", TOX], check=True)
    STAMP.write_text(wanted)


def ensure_chromium() -> None:
    """Install Debian's Chromium for the GraphiQL browser test, where we can.

    Playwright's own browser download is not reachable from our machines, so the
    test drives the system's Chromium. Without root or apt-get it is left to the
    user; the test then skips, except in CI, where it must run.
    """
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print("chromium is not installed: the GraphiQL browser test will skip")
        return
    print("installing chromium (Debian package) for the browser test", flush=True)
    install = [apt, "install", "-y", "--no-install-recommends", "chromium"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run([apt, "update"], env=env, check=False)
        subprocess.run(install, env=env, check=False)


def main() -> int:
    """Run `serve` or `test`, passing any further arguments along."""
    if len(sys.argv) < 2 or sys.argv[1] not in {"serve", "test"}:
        print(__doc__)
        return 2
    ensure_venv()
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "serve":
        os.execv(str(BIN / "ltb"), [str(BIN / "ltb"), "serve", *rest])
    ensure_chromium()
    env = dict(os.environ)
    if env.get("CI") == "true":
        env["LTB_REQUIRE_BROWSER"] = "1"  # in CI the browser test must run
    # The whole suite runs its tox envs two at a time: the long e2e env (real model,
    # live servers) beside the others, one after another. --parallel-live keeps
    # every env's output in the log. With arguments, tox runs exactly those.
    tox = (
        ["run", *rest]
        if rest
        else ["run-parallel", "--parallel", "auto", "--parallel-live"]
    )
    return subprocess.run([str(BIN / "tox"), *tox], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
