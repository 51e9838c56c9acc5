"""Before/after figures of a change: engine runs of two checkouts, interleaved.

    git archive <before-commit> | tar -x -C /tmp/before
    python bench/compare.py --before /tmp/before --cells 5000 --concurrency 64 256

Each round runs every concurrency on the `before` checkout, then on this one
(each on a fresh server), so that the machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, save
from engine_bench import loopback_model, run_one


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--cells", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {}
    with loopback_model() as model_url:
        for _ in range(args.rounds):
            for label, source in (("before", args.before), ("after", ROOT)):
                os.environ["LTB_BENCH_SOURCE"] = str(source.resolve())
                for concurrency in args.concurrency:
                    figures = run_one(model_url, args.cells, concurrency)
                    runs.setdefault(f"{label}@{concurrency}", []).append(figures)
                    print(label, json.dumps(figures), flush=True)
    summary = {
        key: {
            field: statistics.median(r[field] for r in found)
            for field in ("wall_over_ideal", "cpu_s_per_cell", "peak_rss_mb")
        }
        for key, found in runs.items()
    }
    print(json.dumps(summary, indent=2))
    save("compare", {"cells": args.cells, "summary": summary, "runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
