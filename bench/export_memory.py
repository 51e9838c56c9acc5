"""Peak memory of the server while it streams a benchmark export (and a comparison).

For each size (10,000 and 100,000 cells by default) this script:

1. builds a benchmark of that many stored cells directly in a scratch SQLite
   database (a 1,000-item multiple-choice dataset, 10 targets, repeats to make
   up the size, ~300-character outputs), without running any model;
2. starts the real server (`ltb serve`, one gunicorn + uvicorn worker) on a
   free loopback port against that database;
3. opens an export, reads one chunk and hangs up, then checks the server's
   log says it stopped that export;
4. streams GET /v1/benchmarks/{id}/export in each format, reading the body as
   it arrives, while sampling the worker's resident memory every 50 ms; it
   also reads the worker's VmHWM (the kernel's peak RSS of the process);
5. times GET /v1/benchmarks/{id}/comparison (45 pairs of 10 targets), twice
   (the second is served from the cache of ended benchmarks);
6. stops the server by its process group.

Flat memory means the peak during the export barely exceeds the worker's RSS
before it, and does not grow tenfold with ten times the cells. Timings on a
shared machine are noisy; memory figures are not.

Run from the repository root with the project's virtual environment:

    .venv/bin/python bench/export_memory.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.store.database import Database  # noqa: E402
from app.store.models import (  # noqa: E402
    Benchmark,
    BenchmarkCell,
    Dataset,
    DatasetItem,
)

PASSWORD = "bench-admin-password"
ITEMS = 1000
TARGETS = 10
INSERT_BATCH = 5000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def build_database(data_dir: Path, cells: int) -> str:
    """A dataset and one completed benchmark of ``cells`` stored cells."""
    repeats = max(1, cells // (ITEMS * TARGETS))
    items = cells // (TARGETS * repeats)
    db = Database(f"sqlite:///{data_dir / 'ltb.sqlite3'}")
    db.upgrade()
    with db.session() as session:
        dataset = Dataset(
            name="bench",
            version=1,
            format="mmlu-csv",
            content_hash="0" * 64,
            item_count=items,
        )
        session.add(dataset)
        session.flush()
        session.add_all(
            DatasetItem(
                dataset_id=dataset.id,
                position=p,
                key=f"bench-{p}",
                input=f"Question {p}: which option is right? " + "context " * 30,
                expected="B",
                choices=["one", "two", "three", "four"],
                answer_type="choice",
            )
            for p in range(items)
        )
        benchmark = Benchmark(
            name="export bench",
            status="completed",
            dataset_id=dataset.id,
            targets=[
                {"provider": "fake", "model": f"model-{t}"} for t in range(TARGETS)
            ],
            metrics=["accuracy", "latency"],
            iterations=items,
            repeats=repeats,
            concurrency=1,
            seed=0,
            item_positions=list(range(items)),
            total_cells=TARGETS * items * repeats,
        )
        session.add(benchmark)
        session.flush()
        benchmark_id = benchmark.id

    output = "Let me think. " * 20 + "Answer: B"
    rows = (
        {
            "benchmark_id": benchmark_id,
            "target_index": t,
            "item_position": p,
            "repeat": r,
            "output": output if (t + p + r) % 3 else "Answer: C",
            "extracted": "B" if (t + p + r) % 3 else "C",
            "correct": (t + p + r) % 3 > 0,
            "latency_ms": 100.0 + (p * 7 + t * 13 + r) % 400,
            "prompt_tokens": 60,
            "completion_tokens": 45,
            "cached_tokens": 0,
            "cost_usd": 0.0001 * (t + 1),
            "finish_reason": "stop",
            "error": None,
            "metrics": {"accuracy": float((t + p + r) % 3 > 0), "latency": 100.0},
            "metric_reasons": {},
            "judge_usage": None,
        }
        for t in range(TARGETS)
        for p in range(items)
        for r in range(repeats)
    )
    batch: list[dict[str, Any]] = []
    with db.engine.begin() as connection:
        for row in rows:
            batch.append(row)
            if len(batch) == INSERT_BATCH:
                connection.execute(BenchmarkCell.__table__.insert(), batch)
                batch = []
        if batch:
            connection.execute(BenchmarkCell.__table__.insert(), batch)
    db.dispose()
    return benchmark_id


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "BIND_ADDRESS": f"127.0.0.1:{port}",
        "LTB_DATA_DIR": str(data_dir),
        "LTB_ADMIN_PASSWORD": PASSWORD,
        "LTB_WORKERS": "1",
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
        "PYTHONPATH": str(ROOT),
    }
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from app.cli import main; sys.exit(main(['serve']))",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx2.get(base + "/health", timeout=2).status_code == 200:
                return process, base
        except httpx2.TransportError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.3)
    stop(process)
    raise RuntimeError((data_dir / "server.log").read_text()[-3000:])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def worker_of(process: subprocess.Popen[bytes]) -> psutil.Process:
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) == 1, children
    return children[0]


def peak_rss_kib(worker: psutil.Process) -> int:
    """The kernel's high-water mark of the worker's resident memory (VmHWM)."""
    for line in Path(f"/proc/{worker.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def stream_export(
    client: httpx2.Client, benchmark_id: str, fmt: str, worker: psutil.Process
) -> dict[str, Any]:
    sampled: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            sampled.append(worker.memory_info().rss)
            time.sleep(0.05)

    before = worker.memory_info().rss
    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.perf_counter()
    first_byte = None
    size = lines = 0
    try:
        with client.stream(
            "GET", f"/v1/benchmarks/{benchmark_id}/export", params={"format": fmt}
        ) as response:
            assert response.status_code == 200, response.read()
            for chunk in response.iter_bytes():
                if first_byte is None:
                    first_byte = time.perf_counter() - start
                size += len(chunk)
                lines += chunk.count(b"\n")
    finally:
        done.set()
        sampler.join()
    return {
        "format": fmt,
        "bytes": size,
        "lines": lines,
        "seconds": round(time.perf_counter() - start, 2),
        "first_byte_seconds": round(first_byte or 0.0, 3),
        "rss_before_mib": round(before / 2**20, 1),
        "rss_peak_sampled_mib": round(max(sampled, default=before) / 2**20, 1),
        "vm_hwm_after_mib": round(peak_rss_kib(worker) / 1024, 1),
    }


def measure(cells: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ltb-export-bench-") as tmp:
        data_dir = Path(tmp)
        built = time.perf_counter()
        benchmark_id = build_database(data_dir, cells)
        build_seconds = time.perf_counter() - built
        process, base = start_server(data_dir)
        try:
            client = httpx2.Client(base_url=base, timeout=600)
            token = client.post(
                "/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            ).json()["token"]
            client.headers["Authorization"] = f"Bearer {token}"
            worker = worker_of(process)
            # Warm up (imports, caches), reading one chunk and hanging up: the
            # server must stop the stream, not finish it into a closed socket.
            with client.stream(
                "GET", f"/v1/benchmarks/{benchmark_id}/export", params={"format": "csv"}
            ) as response:
                next(response.iter_bytes())
            stopped = False
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not stopped:
                time.sleep(0.2)
                log = (data_dir / "server.log").read_text(errors="replace")
                stopped = "stopped: client gone" in log
            hwm_before = peak_rss_kib(worker) / 1024
            exports = [
                stream_export(client, benchmark_id, f, worker)
                for f in ("csv", "jsonl", "json")
            ]
            hwm_exports = peak_rss_kib(worker) / 1024

            started = time.perf_counter()
            comparison = client.get(f"/v1/benchmarks/{benchmark_id}/comparison")
            comparison_seconds = time.perf_counter() - started
            assert comparison.status_code == 200, comparison.text
            body = comparison.json()
            started = time.perf_counter()
            again = client.get(f"/v1/benchmarks/{benchmark_id}/comparison")
            cached_seconds = time.perf_counter() - started
            assert again.json() == body, "a finished benchmark's comparison changed"
            client.close()
            return {
                "cells": cells,
                "build_seconds": round(build_seconds, 1),
                "hang_up_stops_export": stopped,
                "vm_hwm_before_exports_mib": round(hwm_before, 1),
                "vm_hwm_after_exports_mib": round(hwm_exports, 1),
                "exports": exports,
                "comparison_seconds": round(comparison_seconds, 2),
                "comparison_again_seconds": round(cached_seconds, 3),
                "comparison_pairs": len(body["pairs"]),
                "comparison_resamples": body["pairs"][0]["latency_ms"]["resamples"],
                "vm_hwm_after_comparison_mib": round(peak_rss_kib(worker) / 1024, 1),
            }
        finally:
            stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()

    results = [measure(cells) for cells in args.sizes]
    for r in results:
        print(
            f"{r['cells']:>7} cells: worker peak RSS "
            f"{r['vm_hwm_before_exports_mib']} MiB before exports, "
            f"{r['vm_hwm_after_exports_mib']} MiB after all three"
        )
        print(
            "         a client hanging up stops the export: "
            f"{r['hang_up_stops_export']}"
        )
        for e in r["exports"]:
            print(
                f"         {e['format']:>5}: {e['bytes'] / 2**20:7.1f} MiB in "
                f"{e['seconds']} s (first byte {e['first_byte_seconds']} s), RSS "
                f"{e['rss_before_mib']} -> peak {e['rss_peak_sampled_mib']} MiB"
            )
        print(
            f"         comparison: {r['comparison_pairs']} pairs, "
            f"{r['comparison_resamples']} resamples, {r['comparison_seconds']} s "
            f"(asked again: {r['comparison_again_seconds']} s), "
            f"peak RSS after {r['vm_hwm_after_comparison_mib']} MiB"
        )
    out = ROOT / "bench" / "results" / "export_memory.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"machine_note": "shared 2-core machine; timings noisy", "runs": results},
            indent=2,
        )
    )
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
