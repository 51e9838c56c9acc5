"""What the bench scripts share: ports, processes started and stopped by pid, our
server, CPU and memory of a process tree, machine load, and the results folder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PASSWORD = "bench-admin-password"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# Loopback only: no *_proxy variable of the environment may divert a request.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_ok(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_until_ok(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not http_ok(url):
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout} s")
        time.sleep(0.1)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM to the process group we started (by its pid), then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)


@contextmanager
def started_process(
    command: Sequence[str],
    *,
    ready: str | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start command in its own process group; wait for `ready` to answer 200."""
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        list(command),
        env=env,
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own group: stopped as one, by this pid
    )
    try:
        if ready:
            wait_until_ok(ready, proc, timeout)
        yield proc
    finally:
        stop_process(proc)
        if log:
            out.close()  # type: ignore[union-attr]


# CPU and memory of a process tree (a process group), read from /proc.


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat_fields(int(entry))
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry))
    return pids


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which may hold spaces: state is fields[0].
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS


def rss_kb(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
    except OSError:
        return 0


def peak_rss_kb(pid: int) -> int:
    """The process's high-water mark of resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class TreeSampler:
    """Samples the summed RSS of a process group every `interval` seconds."""

    def __init__(self, pgid: int, interval: float = 0.2) -> None:
        self.pgid = pgid
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = sum(rss_kb(pid) for pid in group_pids(self.pgid))
            self.peak_kb = max(self.peak_kb, total)
            self._stop.wait(self.interval)


class MachineLoad:
    """Load average and the share of CPU time others used while we measured."""

    def __init__(self) -> None:
        self.started = _cpu_times()

    def report(self) -> dict[str, Any]:
        busy0, total0, steal0 = self.started
        busy1, total1, steal1 = _cpu_times()
        total = max(1, total1 - total0)
        return {
            "loadavg_1m": os.getloadavg()[0],
            "cpu_busy_fraction": round((busy1 - busy0) / total, 3),
            # Time the hypervisor gave our virtual CPUs to someone else: on a
            # virtual machine, a share above a few percent makes figures noisy.
            "cpu_steal_fraction": round((steal1 - steal0) / total, 3),
            "cores": os.cpu_count(),
        }


def _cpu_times() -> tuple[int, int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    steal = fields[7] if len(fields) > 7 else 0
    return sum(fields) - idle, sum(fields), steal


# Our server.


@dataclass
class OurServer:
    proc: subprocess.Popen[bytes]
    base_url: str
    token: str

    def wait_for_benchmark(self, benchmark_id: str) -> dict[str, Any]:
        """Poll a benchmark every 0.5 s until it ends; its last state."""
        while True:
            time.sleep(0.5)
            state: dict[str, Any] = request_json(
                "GET", f"{self.base_url}/v1/benchmarks/{benchmark_id}", token=self.token
            )
            if state["status"] in {"completed", "failed", "cancelled"}:
                return state

    def worker_pids(self) -> list[int]:
        """gunicorn's workers: every process of the group but the master."""
        return [pid for pid in group_pids(self.proc.pid) if pid != self.proc.pid]


def server_env(data_dir: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        # The worktree's code, whatever the interpreter has installed (or another
        # checkout's, to compare before and after a change).
        "PYTHONPATH": os.environ.get("LTB_BENCH_SOURCE", str(ROOT)),
        "BIND_ADDRESS": f"127.0.0.1:{port}",
        "LTB_DATA_DIR": str(data_dir),
        "LTB_ADMIN_PASSWORD": PASSWORD,
        "RATE_LIMIT": "1000000",
        "RATE_LIMIT_BURST": "1000000",
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
        "LTB_LOG_LEVEL": "warning",
        **extra,
    }


SERVE = "import sys; from app.cli import main; sys.exit(main())"


@contextmanager
def our_server(
    data_dir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[OurServer]:
    """`ltb serve` (gunicorn, one uvicorn worker, SQLite) on a free loopback port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(data_dir, port, extra_env or {})
    data_dir.mkdir(parents=True, exist_ok=True)
    with started_process(
        [sys.executable, "-c", SERVE, "serve"],
        ready=base + "/health",
        env=env,
        log=data_dir / "server.log",
        cwd=env["PYTHONPATH"],
    ) as proc:
        yield OurServer(proc, base, login(base))


def request_json(
    method: str,
    url: str,
    body: Any = None,
    token: str | None = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
) -> Any:
    data = (
        raw
        if raw is not None
        else (None if body is None else json.dumps(body).encode())
    )
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with _OPENER.open(request, timeout=120) as response:
        return json.load(response)


def login(base: str) -> str:
    body = {"username": "admin", "password": PASSWORD}
    token: str = request_json("POST", base + "/v1/auth/login", body)["token"]
    return token


def upload_dataset(
    base: str, token: str, name: str, fmt: str, files: dict[str, bytes]
) -> str:
    """POST /v1/datasets as multipart/form-data; returns the dataset id."""
    boundary = "ltbbench" + os.urandom(8).hex()
    parts = []
    for field, value in (("name", name.encode()), ("format", fmt.encode())):
        parts.append(
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"\r\n\r\n'.encode()
            + value
            + b"\r\n"
        )
    for filename, content in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    raw = b"".join(parts) + f"--{boundary}--\r\n".encode()
    created = request_json(
        "POST",
        base + "/v1/datasets",
        token=token,
        raw=raw,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    dataset_id: str = created.get("dataset_id") or created["id"]
    return dataset_id


def save(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return path


# Profiling with py-spy (installed in bench/.peers/fastapi by setup_peers.py).


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy records pid's stacks (idle ones too) as collapsed text into output."""
    spy = ROOT / "bench" / ".peers" / "fastapi" / "bin" / "py-spy"
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [str(spy), "record", "--pid", str(pid), "--format", "raw"]
    command += ["--rate", "100", "--threads", "--output", str(output)]
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_profiler(spy: subprocess.Popen[bytes]) -> None:
    """SIGINT makes py-spy write its file; wait for it."""
    os.killpg(spy.pid, signal.SIGINT)
    spy.wait(timeout=60)


# Where a profile's time goes: each sample belongs to the innermost frame of one of
# these layers (libraries such as SQLAlchemy, PyJWT or json count for the layer
# that called them), first match wins.
LAYERS = (
    ("ours", ("app/",)),
    ("connexion", ("connexion/",)),
    ("flask", ("flask/", "werkzeug/")),
    ("a2wsgi (thread hand-off)", ("a2wsgi/",)),
    ("starlette", ("starlette/",)),
    ("uvicorn", ("uvicorn/", "uvicorn_worker/", "h11/", "httptools/")),
    ("event loop and threads", ("asyncio/", "concurrent/", "threading.py")),
)


# Innermost frames of a thread that waits (py-spy counts a thread blocked on a lock
# or a queue in Python as running): the handler pool's idle threads.
IDLE = ("Condition.wait (threading.py", "_worker (concurrent/futures/thread.py")


def layer_shares(profile: Path) -> dict[str, Any]:
    """Busy samples of a py-spy raw profile by layer, and our costliest functions."""
    layers: dict[str, int] = {}
    ours: dict[str, int] = {}
    busy = 0
    for line in profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")[1:]  # the first is the thread
        if not frames or frames[-1].startswith(IDLE):
            continue
        busy += int(count)
        layer = "other"
        for frame in reversed(frames):
            found = next(
                (name for name, marks in LAYERS if any(m in frame for m in marks)),
                None,
            )
            if found is not None:
                layer = found
                if found == "ours":
                    function = frame.split(" (")[0]
                    ours[function] = ours.get(function, 0) + int(count)
                break
        layers[layer] = layers.get(layer, 0) + int(count)
    shares = {
        k: round(v / busy, 3) for k, v in sorted(layers.items(), key=lambda kv: -kv[1])
    }
    top = sorted(ours.items(), key=lambda kv: -kv[1])[:12]
    return {
        "busy_samples": busy,
        "layers": shares,
        "ours_by_function": {k: round(v / busy, 3) for k, v in top},
    }
