"""Engine efficiency: a benchmark of N cells against the 250 ms loopback model.

For each (cells, concurrency) it starts a fresh `ltb serve` (one worker, SQLite,
the loopback provider with max_concurrency 256), imports a generated multiple-
choice dataset of up to 10,000 items (more cells are repeats), runs one benchmark
with the metrics accuracy, latency and cost, and reports:

- wall / ideal: the benchmark's own started_at..finished_at divided by
  cells x latency / concurrency (1.0 is perfect);
- CPU seconds per cell of the server's worker process;
- the worker's peak resident memory (VmHWM; a fresh server per run).

    python bench/engine_bench.py --cells 10000 --concurrency 16 64 256
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    RESULTS,
    MachineLoad,
    cpu_seconds,
    free_port,
    our_server,
    peak_rss_kb,
    request_json,
    save,
    start_profiler,
    started_process,
    stop_profiler,
    upload_dataset,
)

HERE = Path(__file__).resolve().parent
LATENCY_S = 0.25
MAX_ITEMS = 10_000
MODEL = "loopback-250ms"
PROVIDER = "loopback"
LETTERS = "ABCD"


def dataset_lines(items: int) -> bytes:
    """Generated multiple-choice questions; the loopback model answers B."""
    lines = []
    for i in range(items):
        lines.append(
            json.dumps(
                {
                    "input": f"Question {i}: which letter follows A in the alphabet?",
                    "choices": [f"letter {c} ({i})" for c in LETTERS],
                    "expected": LETTERS[i % 4],
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


@contextmanager
def loopback_model(latency: float = LATENCY_S) -> Iterator[str]:
    """The latency server on a free port; yields its OpenAI base URL."""
    port = free_port()
    command = [sys.executable, str(HERE / "latency_server.py"), "--port", str(port)]
    command += ["--latency", str(latency)]
    base = f"http://127.0.0.1:{port}/v1"
    with started_process(command, ready=base + "/models"):
        yield base


def model_stats(model_url: str, reset: bool = False) -> dict[str, Any]:
    """The loopback model's counters (requests, first, last); reset them first."""
    url = model_url.removesuffix("/v1") + "/stats"
    stats: dict[str, Any] = request_json("DELETE" if reset else "GET", url)
    return stats


def span(stats: dict[str, Any]) -> float:
    """From the first request the model received to its last reply."""
    return float(stats["last"] - stats["first"])


def providers_file(directory: Path, base_url: str, max_concurrency: int) -> Path:
    path = directory / "providers.yaml"
    path.write_text(
        "providers:\n"
        f"  - name: {PROVIDER}\n"
        "    kind: openai\n"
        f"    base_url: {base_url}\n"
        "    api_key_env: null\n"
        f"    max_concurrency: {max_concurrency}\n"
        "    max_retries: 0\n"
        f"    models:\n      {MODEL}: {{input_per_mtok: 0.1, output_per_mtok: 0.2}}\n"
    )
    return path


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def run_one(
    model_url: str,
    cells: int,
    concurrency: int,
    extra_env: dict[str, str] | None = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One benchmark of `cells` cells on a fresh server; its figures."""
    items = min(cells, MAX_ITEMS)
    repeats = cells // items
    assert items * repeats == cells and repeats <= 10, "cells: up to 10 x 10,000"
    load = MachineLoad()
    with tempfile.TemporaryDirectory(prefix="ltb-bench-") as tmp:
        data = Path(tmp)
        env = {"LTB_PROVIDERS_FILE": str(providers_file(data, model_url, 256))}
        with our_server(data, {**env, **(extra_env or {})}) as server:
            dataset = upload_dataset(
                server.base_url,
                server.token,
                f"generated-{items}",
                "jsonl",
                {"questions.jsonl": dataset_lines(items)},
            )
            workers = server.worker_pids()
            cpu_before = cpu_seconds(workers)
            spy = start_profiler(workers[0], profile) if profile else None
            model_stats(model_url, reset=True)
            sent = time.monotonic()
            created = request_json(
                "POST",
                server.base_url + "/v1/benchmarks",
                {
                    "name": f"engine {cells} x {concurrency}",
                    "providers": [{"provider": PROVIDER, "model": MODEL}],
                    "dataset": dataset,
                    "metrics": ["accuracy", "latency", "cost"],
                    "iterations": items,
                    "repeats": repeats,
                    "concurrency": concurrency,
                },
                token=server.token,
            )
            state = server.wait_for_benchmark(created["benchmark_id"])
            client_wall = time.monotonic() - sent
            served = model_stats(model_url)
            if spy is not None:
                stop_profiler(spy)
            cpu = cpu_seconds(workers) - cpu_before
            peak_kb = max(peak_rss_kb(pid) for pid in workers)
    if state["status"] != "completed":
        raise RuntimeError(f"benchmark ended {state['status']}: {state.get('error')}")
    wall = _seconds(state["finished_at"]) - _seconds(state["started_at"])
    ideal = cells * LATENCY_S / concurrency
    targets = (state.get("results") or {}).get("targets") or [{}]
    return {
        "cells": cells,
        "concurrency": concurrency,
        "completed_cells": state["completed_cells"],
        "wall_s": round(wall, 3),
        "client_wall_s": round(client_wall, 3),
        "model_span_s": round(span(served), 3),
        # The benchmark's fixed costs: loading its plan before the first request,
        # and storing the last cells and computing the results after the last reply.
        "start_gap_s": round(served["first"] - _seconds(state["started_at"]), 3),
        "end_gap_s": round(_seconds(state["finished_at"]) - served["last"], 3),
        "model_requests": served["requests"],
        "ideal_s": round(ideal, 3),
        "wall_over_ideal": round(wall / ideal, 4),
        "cpu_s_per_cell": round(cpu / cells, 6),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        # The loopback model always answers B: the share of questions whose answer
        # is B, which proves every cell was scored.
        "accuracy": targets[0].get("accuracy"),
        "machine": load.report(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[10_000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the worker into results/"
    )
    args = parser.parse_args()
    figures = []
    with loopback_model() as model_url:
        for cells in args.cells:
            for concurrency in args.concurrency:
                profile = (
                    RESULTS / f"engine-{cells}-{concurrency}.pyspy.txt"
                    if args.profile
                    else None
                )
                figures.append(run_one(model_url, cells, concurrency, None, profile))
                print(json.dumps(figures[-1]), flush=True)
    save("engine", {"runs": figures})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
