"""Benchmark cells per second with 1, 2 and 4 Celery workers (LTB_EXECUTOR=celery).

Starts `ltb serve` (one API worker, PostgreSQL and Redis of the machine, in a
database and key prefix of its own) and a loopback fake provider answering every
call after a fixed latency (250 ms by default), then for each worker count starts
that many `ltb worker` processes, runs one benchmark and stops them.

A worker runs ``--worker-concurrency`` chunks at once and a chunk runs the
benchmark's ``--concurrency`` cells at once, so with N workers the total
concurrency is N x worker concurrency x benchmark concurrency, and the ideal run
time is cells x latency / total concurrency. The provider's max_concurrency is
set high enough never to be the bound. The run time is the server's own
(finished_at - started_at). Everything shares the machine's cores (and, on a
shared machine, its other users' load): read the figures as indications.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.test_datasets import mmlu_dev_files  # noqa: E402
from tests.support.celery_workers import celery_workers  # noqa: E402
from tests.support.fake_openai import fake_openai  # noqa: E402
from tests.support.live_server import live_server, wait_for_benchmark  # noqa: E402
from tests.support.postgres import temporary_database  # noqa: E402
from tests.support.redis import REDIS_URL, redis_prefix  # noqa: E402

PASSWORD = "bench-admin-password"
DATASETS = ROOT.parent / "shared" / "datasets"


def run(
    server, workers: int, args: argparse.Namespace, data: Path, env: dict[str, str]
) -> dict[str, float]:
    with celery_workers(data, env, workers, args.worker_concurrency):
        created = server.client.post(
            "/v1/benchmarks",
            json={
                "name": f"scaling x{workers}",
                "providers": [
                    {"provider": "fake", "model": f"fake-{i}"}
                    for i in range(args.targets)
                ],
                "dataset": "mmlu",
                "metrics": ["accuracy"],
                "iterations": args.items,
                "concurrency": args.concurrency,
            },
        ).json()
        final = wait_for_benchmark(server, created["benchmark_id"], 600)[-1]
    assert final["status"] == "completed", final
    elapsed = (
        datetime.fromisoformat(final["finished_at"])
        - datetime.fromisoformat(final["started_at"])
    ).total_seconds()
    cells = final["total_cells"]
    concurrency = workers * args.worker_concurrency * args.concurrency
    ideal = cells * args.latency / concurrency
    return {
        "workers": workers,
        "cells": cells,
        "total_concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "cells_per_second": round(cells / elapsed, 1),
        "ideal_seconds": round(ideal, 2),
        "ratio_to_ideal": round(ideal / elapsed, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--latency", type=float, default=0.25, help="seconds")
    parser.add_argument("--items", type=int, default=285, help="items per target")
    parser.add_argument("--targets", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4, help="per chunk")
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--chunk-size", type=int, default=16)
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as directory,
        temporary_database() as database_url,
        redis_prefix() as prefix,
        fake_openai(lambda _: "Answer: A", delay_s=args.latency) as provider,
    ):
        data = Path(directory)
        providers = data / "providers.yaml"
        models = "".join(
            f"      fake-{i}: {{input_per_mtok: 1, output_per_mtok: 1}}\n"
            for i in range(args.targets)
        )
        providers.write_text(
            "providers:\n  - name: fake\n    kind: openai\n"
            f"    base_url: {provider.base_url}\n    api_key_env: null\n"
            "    max_concurrency: 10000\n    max_retries: 0\n"
            f"    models:\n{models}",
            encoding="utf-8",
        )
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "LTB_REDIS_PREFIX": prefix,
            "LTB_EXECUTOR": "celery",
            "LTB_PROVIDERS_FILE": str(providers),
            "LTB_CELERY_CHUNK_SIZE": str(args.chunk_size),
            "RATE_LIMIT": "100000",
            "RATE_LIMIT_BURST": "100000",
        }
        with live_server(data, env, PASSWORD) as server:
            uploaded = server.client.post(
                "/v1/datasets",
                data={"name": "mmlu", "format": "mmlu-csv"},
                files=[("file", file) for file in mmlu_dev_files(DATASETS)],
            )
            assert uploaded.status_code == 201, uploaded.text
            figures = []
            for workers in args.workers:
                started = time.monotonic()
                figures.append(run(server, workers, args, data, env))
                print(json.dumps(figures[-1]), f"({time.monotonic() - started:.0f} s)")

    report = {"latency_s": args.latency, "chunk_size": args.chunk_size, "runs": figures}
    print(json.dumps(report, indent=2))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "celery_scaling.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
