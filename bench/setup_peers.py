"""Install the peers the benchmarks compare us with, into bench/.peers/ (git-ignored).

- bench/.peers/fastapi: a venv with this project (editable) and FastAPI, for the
  comparison app of http_overhead.py, plus py-spy for profiling;
- bench/.peers/lm-eval: a venv with lm-evaluation-harness (its API models only);
- bench/.peers/npm: an npm prefix with promptfoo.

Versions are pinned in bench/peers/. Each part is installed once; delete its
folder to reinstall. The HTTP load generator is wrk (`apt-get install wrk`).
Run with the project's interpreter: `.venv/bin/python bench/setup_peers.py`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINS = ROOT / "bench" / "peers"
PEERS = ROOT / "bench" / ".peers"
FASTAPI_VENV = PEERS / "fastapi"
LM_EVAL_VENV = PEERS / "lm-eval"
NPM_PREFIX = PEERS / "npm"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def promptfoo_bin() -> Path:
    return NPM_PREFIX / "node_modules" / ".bin" / "promptfoo"


def _venv(venv: Path, *pip_args: str) -> None:
    if venv_python(venv).exists() and (venv / ".installed").exists():
        return
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "install", "-q", *pip_args], check=True
    )
    (venv / ".installed").touch()


def setup_fastapi() -> None:
    _venv(FASTAPI_VENV, "-e", str(ROOT), "-r", str(PINS / "requirements-fastapi.txt"))


def setup_lm_eval() -> None:
    _venv(LM_EVAL_VENV, "-r", str(PINS / "requirements-lm-eval.txt"))


def setup_promptfoo() -> None:
    wanted = (PINS / "package.json").read_text()
    installed = NPM_PREFIX / "package.json"
    if promptfoo_bin().exists() and installed.read_text() == wanted:
        return
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    installed.write_text(wanted)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NPM_PREFIX,
        # promptfoo depends on a Playwright browser that it does not need here;
        # its install step would download one from outside the registry.
        env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
        check=True,
    )


PARTS = {
    "fastapi": setup_fastapi,
    "lm-eval": setup_lm_eval,
    "promptfoo": setup_promptfoo,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help=f"some of {', '.join(PARTS)}")
    args = parser.parse_args()
    for part in args.parts or PARTS:
        print(f"setting up {part} ...", flush=True)
        PARTS[part]()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk (HTTP load generator)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
