"""What a provider call costs by client path, against the 250 ms loopback model.

The engine's ceiling is one event loop's CPU per provider call. This measures,
on uvloop (as the server runs), the same chat completion sent N times with C in
flight through:

- ``aiohttp``: a bare aiohttp session posting the JSON (no SDK), the floor;
- ``sdk``: the official openai SDK's typed path (``client.post`` cast to its
  ``ChatCompletion`` model, every header the SDK adds);
- ``ours``: ``OpenAIChatProvider.complete``, the SDK path the engine uses
  (raw response, no self-description headers; app/providers/openai_chat.py).

For each: CPU milliseconds per call, wall time / ideal (N x 250 ms / C), and
the p50/p99 latency a call saw. Rounds alternate the paths.

    python bench/client_paths.py --calls 6000 --concurrency 256 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import uvloop
from openai.types.chat import ChatCompletion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from common import MachineLoad, save
from engine_bench import LATENCY_S, MODEL, loopback_model
from provider_calls import PROMPT, loopback_provider

from app.providers.base import connection_limits

BODY = {
    "model": MODEL,
    "messages": [{"role": "user", "content": PROMPT}],
    "max_tokens": 16,
    "temperature": 0.0,
}
PATHS = ("aiohttp", "sdk", "ours")

Call = Callable[[], Awaitable[Any]]


async def client(
    path: str, url: str, concurrency: int
) -> tuple[Call, Callable[[], Awaitable[None]]]:
    """A call through one path, and how to close its client."""
    if path == "aiohttp":
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency)
        )

        async def bare() -> Any:
            async with session.post(url + "/chat/completions", json=BODY) as reply:
                return json.loads(await reply.read())

        return bare, session.close
    if path == "sdk":
        sdk = openai.AsyncOpenAI(
            api_key="no-key-required",
            base_url=url,
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(
                limits=connection_limits(concurrency)
            ),
        )

        async def typed() -> Any:
            return await sdk.post(
                "/chat/completions", body=BODY, cast_to=ChatCompletion
            )

        return typed, sdk.close
    provider = loopback_provider(url, concurrency)

    async def ours() -> Any:
        return await provider.complete(MODEL, PROMPT, max_tokens=16, temperature=0.0)

    return ours, provider.aclose


async def measure(path: str, url: str, calls: int, concurrency: int) -> dict[str, Any]:
    call, close = await client(path, url, concurrency)
    await call()  # connect, import lazily
    work = iter(range(calls))
    latencies: list[float] = []

    async def worker() -> None:
        for _ in work:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await close()
    latencies.sort()
    return {
        "path": path,
        "calls": calls,
        "concurrency": concurrency,
        "cpu_ms_per_call": round(cpu / calls * 1000, 3),
        "wall_over_ideal": round(wall / (calls * LATENCY_S / concurrency), 3),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    load = MachineLoad()
    runs = []
    with loopback_model() as url:
        for _ in range(args.rounds):
            for path in PATHS:
                figures = uvloop.run(measure(path, url, args.calls, args.concurrency))
                print(json.dumps(figures), flush=True)
                runs.append(figures)
    save("client_paths", {"runs": runs, "machine": load.report()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
