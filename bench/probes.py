"""What the probes cost: latency of /health, /health/ready and /metrics.

Starts `ltb serve` (embedded defaults: SQLite, no Redis; --workers as given, with
PostgreSQL and Redis from the environment when more than one) on a free loopback
port, sends a warm-up of authenticated requests so /metrics has series to
report, then asks each probe N times, one request at a time on one connection,
and prints p50/p99 latency and the size of the /metrics answer.

    .venv/bin/python bench/probes.py --requests 300
    DATABASE_URL=postgresql://... REDIS_URL=redis://... \
        .venv/bin/python bench/probes.py --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
LTB = Path(sys.executable).parent / "ltb"
PASSWORD = "bench-admin-password"
PROBES = ("/health", "/health/ready", "/metrics")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def wait_healthy(client: httpx2.Client, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited early")
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become healthy")


def measure(client: httpx2.Client, path: str, count: int) -> dict[str, float]:
    latencies = []
    size = 0
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path)
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.text[:300])
        size = len(response.content)
    return {
        "p50_ms": round(percentile(latencies, 0.5), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="ltb-bench-probes-"))
    env = {
        **os.environ,
        "BIND_ADDRESS": f"127.0.0.1:{port}",
        "LTB_DATA_DIR": str(data_dir),
        "LTB_ADMIN_PASSWORD": PASSWORD,
        "RATE_LIMIT": "100000",
    }
    process = subprocess.Popen(
        [str(LTB), "serve", "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    results: dict[str, object] = {"workers": args.workers, "requests": args.requests}
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_healthy(client, process)
            token = client.post(
                "/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            ).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(args.warmup):
                client.get("/v1/providers", headers=headers)
                client.get("/v1/benchmarks/not-there", headers=headers)
            for path in PROBES:
                results[path] = measure(client, path, args.requests)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)

    for path in PROBES:
        figures = results[path]
        print(f"{path:15} {json.dumps(figures)}")
    out = ROOT / "bench" / "results" / "probes.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
