"""Celery workers (`ltb worker`) as subprocesses, and RabbitMQ vhosts of our own."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import log_scan
from tests.support.live_server import LTB, kill_group, stop_group

RABBITMQ_HOST = "127.0.0.1:5672"


@dataclass
class CeleryWorker:
    """A running `ltb worker` process (its own process group)."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the worker has logged so far."""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """Crash the worker: SIGKILL, no warm shutdown, no acknowledgement."""
        kill_group(self.process)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM: finish running chunks), then SIGKILL."""
        stop_group(self.process, timeout=30)


@contextmanager
def celery_workers(
    data_dir: Path, env: dict[str, str], count: int, concurrency: int = 2
) -> Iterator[list[CeleryWorker]]:
    """Start ``count`` workers with this environment; stop them by pid afterwards."""
    workers = [start_worker(data_dir, env, concurrency) for _ in range(count)]
    try:
        for worker in workers:
            wait_ready(worker)
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def start_worker(data_dir: Path, env: dict[str, str], concurrency: int) -> CeleryWorker:
    """Start one `ltb worker`; it logs to a file of its own in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
    log_scan.SERVER_LOGS.append(log_path)
    full_env = {
        **os.environ,
        "LTB_DATA_DIR": str(data_dir),
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
        **env,
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(LTB), "worker", "--concurrency", str(concurrency)],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return CeleryWorker(process, log_path)


def wait_ready(worker: CeleryWorker, timeout: float = 60) -> None:
    """Wait until the worker consumes from its queue."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{worker.log()[-3000:]}")
        if " ready." in worker.log():
            return
        time.sleep(0.2)
    raise RuntimeError(f"worker did not become ready:\n{worker.log()[-3000:]}")


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A RabbitMQ vhost of this test's own (AMQP URL), deleted afterwards."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("rabbitmqctl is not installed")
        pytest.skip("rabbitmqctl is not installed")
    vhost = f"ltb-test-{uuid.uuid4().hex[:12]}"
    _rabbitmqctl(ctl, "add_vhost", vhost)
    try:
        _rabbitmqctl(ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{RABBITMQ_HOST}/{vhost}"
    finally:
        _rabbitmqctl(ctl, "delete_vhost", vhost)


def _rabbitmqctl(ctl: str, *args: str) -> None:
    result = subprocess.run(
        [ctl, *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        message = f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
