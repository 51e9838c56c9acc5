"""Run the plugin worker in a child process: time limit, bounded output, JSON lines.

Every run is a fresh process in a session of its own, so a plugin that hangs,
exits, crashes the interpreter or starts children of its own is killed as a whole
group and never takes the server down. Waiting happens in the calling thread (a
request handler, or start-up), never on the event loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("worker.py")
# Environment variables a plugin process may see; never credentials of the server
# (JWT_SECRET, DATABASE_URL, provider API keys).
INHERITED_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
STDERR_TAIL_BYTES = 4096
_READ_CHUNK = 65536


@dataclass(frozen=True)
class WorkerLimits:
    """How long a worker may stay silent, and how much it may answer."""

    time_limit_s: float
    max_output_bytes: int


@dataclass
class WorkerRun:
    """What a worker process answered, and how it ended."""

    messages: list[Any] = field(default_factory=list)
    # The first line that was not a JSON object (clipped), if any.
    garbage: str | None = None
    returncode: int | None = None
    timed_out: bool = False
    overflowed: bool = False
    stderr_tail: str = ""

    @property
    def ending(self) -> str:
        """How the process ended, in words, for error messages."""
        if self.timed_out:
            return "was killed after its time limit"
        if self.overflowed:
            return "was killed for answering more than the output limit"
        if self.garbage is not None:
            return f"answered something that is not JSON: {self.garbage!r}"
        code = self.returncode
        if code is not None and code < 0:
            return f"was killed by signal {-code}"
        return f"exited with code {code}"


def run_worker(
    request: dict[str, Any],
    limits: WorkerLimits,
    environ: Mapping[str, str],
    *,
    limit_per_message: bool = False,
    program: Sequence[str] = (sys.executable, "-P", str(WORKER)),
) -> WorkerRun:
    """Start a worker, send ``request``, collect its answers until it exits.

    The time limit counts from the start; with ``limit_per_message`` it restarts at
    every answer (start-up loads plugin after plugin in one process). ``program``
    is the worker's command line (tests pass misbehaving ones).
    """
    payload = json.dumps(request, separators=(",", ":")).encode()
    # An empty working directory of its own, not the server's (where a relative
    # data directory holds the database and the JWT secret file).
    with tempfile.TemporaryDirectory(prefix="ltb-plugin-") as workdir:
        process = subprocess.Popen(
            list(program),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={k: environ[k] for k in INHERITED_ENVIRONMENT if k in environ},
            cwd=workdir,
            start_new_session=True,
        )
        run = WorkerRun()
        try:
            _exchange(process, payload, limits, limit_per_message, run)
        finally:
            run.returncode = _reap(process, run.timed_out or run.overflowed)
    if run.returncode != 0 or run.garbage is not None:
        logger.info(
            "plugin worker %d %s; stderr ends with %r",
            process.pid,
            run.ending,
            run.stderr_tail[-500:],
        )
    return run


def _exchange(
    process: subprocess.Popen[bytes],
    payload: bytes,
    limits: WorkerLimits,
    limit_per_message: bool,
    run: WorkerRun,
) -> None:
    assert process.stdin and process.stdout and process.stderr
    selector = selectors.DefaultSelector()
    for stream in (process.stdin, process.stdout, process.stderr):
        os.set_blocking(stream.fileno(), False)
    selector.register(process.stdin, selectors.EVENT_WRITE)
    selector.register(process.stdout, selectors.EVENT_READ)
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + limits.time_limit_s
    stdout, stderr, received = bytearray(), bytearray(), 0

    with selector:
        while len(selector.get_map()) > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                run.timed_out = True
                return
            for key, _ in selector.select(remaining):
                if key.fileobj is process.stdin:
                    payload = _write_some(selector, process, payload)
                    continue
                chunk = _read_some(selector, key.fileobj)
                if key.fileobj is process.stderr:
                    stderr = (stderr + chunk)[-STDERR_TAIL_BYTES:]
                    run.stderr_tail = stderr.decode(errors="replace")
                    continue
                received += len(chunk)
                if received > limits.max_output_bytes:
                    run.overflowed = True
                    return
                stdout += chunk
                if _take_lines(stdout, run) and limit_per_message:
                    deadline = time.monotonic() + limits.time_limit_s
    if stdout and run.garbage is None:  # a last line without its newline
        run.garbage = bytes(stdout[:200]).decode(errors="replace")


def _write_some(
    selector: selectors.BaseSelector, process: subprocess.Popen[bytes], payload: bytes
) -> bytes:
    assert process.stdin
    try:
        written = os.write(process.stdin.fileno(), payload)
    except BrokenPipeError:  # the worker died before reading its request
        written = len(payload)
    payload = payload[written:]
    if not payload:
        selector.unregister(process.stdin)
        process.stdin.close()
    return payload


def _read_some(selector: selectors.BaseSelector, stream: Any) -> bytes:
    chunk = os.read(stream.fileno(), _READ_CHUNK)
    if not chunk:
        selector.unregister(stream)
    return chunk


def _take_lines(buffer: bytearray, run: WorkerRun) -> bool:
    """Move complete lines from ``buffer`` into ``run``; whether any arrived."""
    arrived = False
    while (end := buffer.find(b"\n")) >= 0:
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        arrived = True
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if isinstance(message, dict):
            run.messages.append(message)
        elif run.garbage is None:
            run.garbage = line[:200].decode(errors="replace")
    return arrived


def _reap(process: subprocess.Popen[bytes], kill: bool) -> int:
    # Kill the whole group before reaping the worker: until it is reaped its pid
    # (the group's id) cannot be reused, so the signal reaches only our processes.
    if not kill:
        _wait_unreaped(process.pid, timeout_s=1.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    return process.wait()


def _wait_unreaped(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, flags) is not None:
            return
        time.sleep(0.005)
