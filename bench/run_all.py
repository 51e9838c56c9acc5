"""Every figure of bench/ in one run: one table on stdout, JSON in bench/results/.

1. the loopback model's own capacity (a trivial client at concurrency 256);
2. HTTP overhead: our server against the FastAPI app, interleaved (wrk);
3. engine efficiency: N cells at concurrency 16, 64 and 256, and 10 N at 256;
4. peers (promptfoo, lm-eval) on the same N cells at concurrency 64;
5. real model: the MMLU dev split on SmolLM2 against a bare script.

    .tox/e2e/bin/python bench/run_all.py            # full: about 25 minutes
    .tox/e2e/bin/python bench/run_all.py --quick    # a short run: about 5 minutes

Run it with an interpreter that has this project installed (the tox e2e env, which
also has llama.cpp for part 5). Peers install on first use (setup_peers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine_peers
import http_overhead
import latency_server
import real_model
from common import ROOT, MachineLoad, free_port, save, started_process
from engine_bench import loopback_model, run_one

FULL = {
    "prove_seconds": 10,
    "http": {"rounds": 3, "seconds": 10, "connections": 16},
    "cells": 10_000,
    "concurrency": [16, 64, 256],
    "big_cells": 100_000,
    "peer_concurrency": 64,
    "real": {"rounds": 2, "concurrency": 4, "limit": None},
}
QUICK = {
    "prove_seconds": 4,
    "http": {"rounds": 1, "seconds": 3, "connections": 16},
    "cells": 2_000,
    "concurrency": [64, 256],
    "big_cells": 20_000,
    "peer_concurrency": 64,
    "real": {"rounds": 1, "concurrency": 4, "limit": 20},
}


def prove_model(seconds: float) -> dict[str, Any]:
    port = free_port()
    command = [sys.executable, latency_server.__file__, "--port", str(port)]
    with started_process(command, ready=f"http://127.0.0.1:{port}/v1/models"):
        return asyncio.run(latency_server.prove(port, 256, seconds, 0.25))


def table(figures: dict[str, Any]) -> str:
    rows = [("part", "figure", "value")]
    proof = figures["loopback_model"]
    rows.append(
        ("loopback model", "rate at c=256 / ideal", f"{proof['fraction_of_ideal']:.3f}")
    )
    http = figures["http"]["summary"]
    for endpoint in ("health", "evaluation"):
        for app in ("ours", "fastapi"):
            f = http[f"{app}.{endpoint}"]
            rows.append(
                (
                    f"http {endpoint}",
                    f"{app}: req/s, p50, p99 ms",
                    f"{f['rps']:.0f}, {f['p50_ms']:.1f}, {f['p99_ms']:.1f}",
                )
            )
        rows.append(
            (
                f"http {endpoint}",
                "ours / fastapi (req/s)",
                f"{http[f'ratio.{endpoint}']:.3f}",
            )
        )
    for run in figures["engine"]:
        rows.append(
            (
                f"engine {run['cells']} c={run['concurrency']}",
                "wall/ideal, CPU ms/cell, peak MB",
                f"{run['wall_over_ideal']:.3f}, {run['cpu_s_per_cell'] * 1000:.2f}, "
                f"{run['peak_rss_mb']:.0f}",
            )
        )
    rows.append(
        ("engine memory", "big / small run (same c)", f"{figures['memory_ratio']:.3f}")
    )
    for name, peer in figures["peers"].items():
        if "error" in peer:
            rows.append((f"peer {name}", "failed", peer["error"][:60]))
            continue
        rows.append(
            (
                f"peer {name} {peer['cells']} c={peer['concurrency']}",
                "wall/ideal (span/ideal), CPU ms/cell, peak MB",
                f"{peer['wall_over_ideal']:.3f} ({peer['span_over_ideal']:.3f}), "
                f"{peer['cpu_s_per_cell'] * 1000:.2f}, {peer['peak_rss_mb']:.0f}",
            )
        )
    real = figures["real_model"]
    if "error" in real:
        rows.append(("real model", "not measured", real["error"][:60]))
        real = None
    if real:
        rows.append(
            (
                f"real model ({real['items']} MMLU dev, c={real['concurrency']})",
                "ours / bare wall",
                f"{real['ours_over_bare']:.4f} ({real['overhead_percent']:+.2f}%)",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip", nargs="*", default=[], help="peers real")
    parser.add_argument(
        "--real-limit", type=int, help="only the first N MMLU questions' subjects"
    )
    parser.add_argument("--real-rounds", type=int)
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    plan = plan | {"real": dict(plan["real"])}
    if args.real_limit:
        plan["real"]["limit"] = args.real_limit
    if args.real_rounds:
        plan["real"]["rounds"] = args.real_rounds
    load = MachineLoad()
    started = time.time()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    figures: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": commit,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "plan": plan,
    }

    figures["loopback_model"] = prove_model(plan["prove_seconds"])
    print("loopback model", json.dumps(figures["loopback_model"]), flush=True)
    figures["http"] = http_overhead.measure(**plan["http"])

    cells = plan["cells"]
    figures["engine"] = []
    with loopback_model() as model_url:
        for concurrency in plan["concurrency"]:
            figures["engine"].append(run_one(model_url, cells, concurrency))
            print("engine", json.dumps(figures["engine"][-1]), flush=True)
        big = run_one(model_url, plan["big_cells"], plan["concurrency"][-1])
        figures["engine"].append(big)
        print("engine", json.dumps(big), flush=True)
        small = figures["engine"][len(plan["concurrency"]) - 1]
        figures["memory_ratio"] = round(big["peak_rss_mb"] / small["peak_rss_mb"], 3)
        figures["peers"] = {}
        for name in [] if "peers" in args.skip else list(engine_peers.PEERS):
            try:
                figures["peers"] |= engine_peers.run_peers(
                    model_url, cells, plan["peer_concurrency"], [name]
                )
            except Exception as e:  # a broken peer costs its row, not the run
                figures["peers"][name] = {"error": str(e)[-500:]}
                print(name, "failed:", e, flush=True)
    figures["real_model"] = {"error": "skipped"}
    if "real" not in args.skip:
        try:
            figures["real_model"] = real_model.measure(**plan["real"])
        except Exception as e:
            figures["real_model"] = {"error": str(e)[-500:]}
            print("real model failed:", e, flush=True)
    figures["elapsed_s"] = round(time.time() - started, 1)
    figures["machine"] |= load.report()
    print()
    print(table(figures))
    print(f"\nmachine: {json.dumps(figures['machine'])}; {figures['elapsed_s']} s")
    print(f"JSON: {save('run_all' + ('-quick' if args.quick else ''), figures)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
