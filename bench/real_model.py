"""Real model: our benchmark of the MMLU dev split against SmolLM2 (llama.cpp),
against a bare script sending the same requests with the same concurrency.

Starts llama.cpp's server (tests/support/llm_server.py: one request at a time,
one thread) and, in rounds, runs the bare script (prompts built as the engine
builds them, the same max_tokens and temperature, httpx2 with N workers) and one
benchmark on a fresh `ltb serve` (provider max_concurrency N, benchmark
concurrency N). Our overhead is (ours / bare - 1), medians over rounds.

The interpreter with llama_cpp.server comes from $LTB_LLAMA_PYTHON, else the
checkout's tox env that runs the end-to-end tests (.tox/e2e).

    python bench/real_model.py --rounds 2 --concurrency 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, MachineLoad, our_server, request_json, save, upload_dataset

sys.path.insert(0, str(ROOT))
from app.benchmarks.cells import DEFAULT_MAX_TOKENS
from app.benchmarks.prompts import build_prompt
from app.datasets.formats import parse_dataset
from tests.support.llm_server import MODEL_ALIAS, find_gguf, start_llm_server

MMLU_DEV = ROOT.parent.parent / "shared" / "datasets" / "mmlu" / "dev"


def mmlu_dir() -> Path:
    for candidate in (MMLU_DEV, ROOT.parent / "shared" / "datasets" / "mmlu" / "dev"):
        if candidate.is_dir():
            return candidate
    raise SystemExit("the MMLU dev split (shared/datasets/mmlu/dev) is not there")


def llama_python() -> str:
    explicit = os.environ.get("LTB_LLAMA_PYTHON")
    candidates = [explicit] if explicit else []
    candidates.append(str(ROOT / ".tox/e2e/bin/python"))
    for python in candidates:
        if python and Path(python).exists() and find_gguf(python)[0] is not None:
            return python
    raise SystemExit("no interpreter with llama_cpp.server: set LTB_LLAMA_PYTHON")


async def bare(
    base_url: str, prompts: list[tuple[str, int]], concurrency: int
) -> float:
    """Send every prompt (chat completion, temperature 0) with N workers; seconds."""
    work = iter(prompts)
    limits = httpx2.Limits(max_connections=concurrency)
    async with httpx2.AsyncClient(
        base_url=base_url, timeout=120, limits=limits
    ) as client:

        async def worker() -> None:
            for prompt, max_tokens in work:
                response = await client.post(
                    "/chat/completions",
                    json={
                        "model": MODEL_ALIAS,
                        "messages": [{"role": "user", "content": prompt}],
                        "max_tokens": max_tokens,
                        "temperature": 0.0,
                    },
                )
                response.raise_for_status()
                response.json()

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.monotonic() - started


def ours(
    base_url: str, files: dict[str, bytes], items: int, concurrency: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ltb-real-") as tmp:
        data = Path(tmp)
        providers = data / "providers.yaml"
        providers.write_text(
            "providers:\n  - name: local\n    kind: openai\n"
            f"    base_url: {base_url}\n    api_key_env: null\n"
            f"    max_concurrency: {concurrency}\n    timeout_s: 120\n"
            f"    models:\n      {MODEL_ALIAS}:"
            " {input_per_mtok: 0, output_per_mtok: 0}\n"
        )
        with our_server(data, {"LTB_PROVIDERS_FILE": str(providers)}) as server:
            dataset = upload_dataset(
                server.base_url, server.token, "mmlu", "mmlu-csv", files
            )
            created = request_json(
                "POST",
                server.base_url + "/v1/benchmarks",
                {
                    "name": "mmlu dev",
                    "providers": [{"provider": "local", "model": MODEL_ALIAS}],
                    "dataset": dataset,
                    "metrics": ["accuracy", "latency"],
                    "iterations": items,
                    "concurrency": concurrency,
                },
                token=server.token,
            )
            state = server.wait_for_benchmark(created["benchmark_id"])
    if state["status"] != "completed":
        raise RuntimeError(f"benchmark ended {state['status']}: {state.get('error')}")
    started = datetime.fromisoformat(state["started_at"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(state["finished_at"].replace("Z", "+00:00"))
    return {"wall_s": (finished - started).total_seconds(), "results": state["results"]}


def measure(rounds: int, concurrency: int, limit: int | None) -> dict[str, Any]:
    files = {p.name: p.read_bytes() for p in sorted(mmlu_dir().glob("*.csv"))}
    parsed = parse_dataset("mmlu-csv", sorted(files.items())).items
    if limit:
        parsed = parsed[:limit]
        keep = {f"{i.subject}_dev.csv" for i in parsed}
        files = {name: data for name, data in files.items() if name in keep}
        parsed = parse_dataset("mmlu-csv", sorted(files.items())).items
    prompts = [(build_prompt(i), DEFAULT_MAX_TOKENS[i.answer_type]) for i in parsed]
    load = MachineLoad()
    bare_s: list[float] = []
    ours_s: list[float] = []
    python = llama_python()
    gguf, _ = find_gguf(python)
    assert gguf is not None
    with start_llm_server(python, gguf) as base_url:
        asyncio.run(bare(base_url, prompts[:4], concurrency))  # warm the model up
        for _ in range(rounds):
            bare_s.append(asyncio.run(bare(base_url, prompts, concurrency)))
            print(f"bare {bare_s[-1]:.2f} s", flush=True)
            run = ours(base_url, files, len(prompts), concurrency)
            ours_s.append(run["wall_s"])
            print(f"ours {ours_s[-1]:.2f} s", flush=True)
    bare_median = statistics.median(bare_s)
    ours_median = statistics.median(ours_s)
    return {
        "items": len(prompts),
        "concurrency": concurrency,
        "bare_s": [round(s, 3) for s in bare_s],
        "ours_s": [round(s, 3) for s in ours_s],
        "ours_over_bare": round(ours_median / bare_median, 4),
        "overhead_percent": round((ours_median / bare_median - 1) * 100, 2),
        "accuracy": run["results"],
        "machine": load.report(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--limit", type=int, help="only the first N questions' subjects"
    )
    args = parser.parse_args()
    figures = measure(args.rounds, args.concurrency, args.limit)
    print(json.dumps({k: v for k, v in figures.items() if k != "accuracy"}, indent=2))
    save("real_model", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
