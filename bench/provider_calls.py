"""CPU per provider call: OpenAIChatProvider.complete against the loopback model.

The engine's hot path without the server around it: N calls with C workers, the
process's CPU seconds per call and the wall time against the ideal (N x 250 ms /
C). Set LTB_BENCH_SOURCE to another checkout to measure its provider instead.

    python bench/provider_calls.py --calls 3000 --concurrency 256
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("LTB_BENCH_SOURCE", str(Path(__file__).parents[1])))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from common import save
from engine_bench import LATENCY_S, MODEL, loopback_model

from app.providers.config import ModelPrice, ProviderConfig
from app.providers.openai_chat import OpenAIChatProvider

PROMPT = "Question: which letter follows A?\n\nA. A\nB. B\n\nAnswer with the letter."


def loopback_provider(model_url: str, concurrency: int) -> OpenAIChatProvider:
    """Our provider for the loopback model, as many calls in flight as asked."""
    config = ProviderConfig(
        "loopback",
        "openai",
        model_url,
        None,
        {MODEL: ModelPrice(0, 0)},
        max_concurrency=concurrency,
        max_retries=0,
    )
    return OpenAIChatProvider(config, None)


async def calls(model_url: str, count: int, concurrency: int) -> dict[str, float]:
    provider = loopback_provider(model_url, concurrency)
    await provider.complete(MODEL, PROMPT, max_tokens=16)  # connect, import lazily
    work = iter(range(count))

    async def worker() -> None:
        for _ in work:
            await provider.complete(MODEL, PROMPT, max_tokens=16, temperature=0.0)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await provider.aclose()
    ideal = count * LATENCY_S / concurrency
    return {
        "calls": count,
        "concurrency": concurrency,
        "cpu_ms_per_call": round(cpu / count * 1000, 3),
        "wall_over_ideal": round(wall / ideal, 3),
        "loadavg_1m": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=256)
    args = parser.parse_args()
    with loopback_model() as model_url:
        figures = asyncio.run(calls(model_url, args.calls, args.concurrency))
    print(json.dumps(figures))
    save("provider_calls", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
