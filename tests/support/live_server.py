"""Run the real server (`ltb serve`, gunicorn + uvicorn) as a subprocess on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from tests.support import log_scan
from tests.support.llm_server import free_loopback_port

LTB = Path(sys.executable).parent / "ltb"
# What uvicorn logs in each worker once the app's lifespan startup is done.
WORKER_STARTED = "Application startup complete"


@dataclass
class LiveServer:
    """A running `ltb serve` process and an HTTP client logged in as admin."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    client: httpx2.Client

    def log(self) -> str:
        """Everything the server has logged so far."""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """Crash the server: SIGKILL to gunicorn's master and its workers at once."""
        kill_group(self.process)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), falling back to SIGKILL."""
        stop_group(self.process, timeout=40)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started in a session of its own, and all its children."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM a process group; SIGKILL it if it has not exited in ``timeout`` s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)


@contextmanager
def live_server(
    data_dir: Path,
    env: dict[str, str],
    admin_password: str,
    args: Sequence[str] = (),
) -> Iterator[LiveServer]:
    """Start `ltb serve` (with ``args``) and this environment; stop it by pid after."""
    port = free_loopback_port()
    base_url = f"http://127.0.0.1:{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.log"
    log_scan.SERVER_LOGS.append(log_path)
    log_scan.PASSWORDS.add(admin_password)
    full_env = {
        **os.environ,
        "BIND_ADDRESS": f"127.0.0.1:{port}",
        "LTB_DATA_DIR": str(data_dir),
        "LTB_ADMIN_PASSWORD": admin_password,
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
        **env,
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(LTB), "serve", *args],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as one
        )
    client = httpx2.Client(base_url=base_url, timeout=30)
    server = LiveServer(process, base_url, log_path, client)
    try:
        _wait_healthy(server)
        _wait_workers_started(server, _worker_count(args))
        token = client.post(
            "/v1/auth/login",
            json={"username": "admin", "password": admin_password},
        ).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield server
    finally:
        server.client.close()  # a test may have replaced it
        server.stop()


def _wait_healthy(server: LiveServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()[-3000:]}")
        try:
            if server.client.get("/health").status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not become healthy:\n{server.log()[-3000:]}")


def _worker_count(args: Sequence[str]) -> int:
    if "--workers" in args:
        return int(args[list(args).index("--workers") + 1])
    return 1


def _wait_workers_started(
    server: LiveServer, workers: int, timeout: float = 60
) -> None:
    """Wait until every gunicorn worker has finished its startup.

    /health answers as soon as the first worker does; a test that needs requests
    spread over several workers must not start while the others still boot.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.log().count(WORKER_STARTED) >= workers:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{workers} workers did not all start:\n{server.log()[-3000:]}")


def wait_for_benchmark(
    server: LiveServer, benchmark_id: str, timeout: float
) -> list[dict[str, Any]]:
    """Poll a benchmark until it ends; return every state seen."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = server.client.get(f"/v1/benchmarks/{benchmark_id}").json()
        seen.append(state)
        if state["status"] in {"completed", "failed", "cancelled"}:
            return seen
        time.sleep(0.5)
    raise AssertionError(f"benchmark still {seen[-1]['status']} after {timeout} s")


def all_cells(server: LiveServer, benchmark_id: str) -> list[dict[str, Any]]:
    """Every stored cell of a benchmark, through the paginated results endpoint."""
    cells: list[dict[str, Any]] = []
    page = 1
    while True:
        body = server.client.get(
            f"/v1/benchmarks/{benchmark_id}/results",
            params={"page": page, "page_size": 100},
        ).json()
        cells += body["items"]
        if page >= body["total_pages"]:
            return cells
        page += 1
