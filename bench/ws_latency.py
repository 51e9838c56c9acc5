"""Event delivery latency of /ws with many subscribers on one worker.

Starts `ltb serve` (one worker, embedded defaults) on a free loopback port, opens
N WebSocket clients subscribed to request.logs, then makes HTTP requests one at
a time; each request publishes one event that every client must receive. For
each (event, client) it records:

- from the request: the time from sending the HTTP request to the client reading
  the event (an upper bound: it includes answering the request);
- from the publish: the client's clock minus the event's own timestamp (ms since
  the epoch, taken when the server published it; same machine, same clock).

The clients run in this process on the same two cores as the server, so the
figures include the clients' own cost of reading N copies of every event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
LTB = Path(sys.executable).parent / "ltb"
PASSWORD = "bench-admin-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(base: str, token: str, subscribers: int, events: int, gap: float):
    url = base.replace("http://", "ws://") + "/ws"
    headers = {"Authorization": f"Bearer {token}"}
    clients = []
    for _ in range(subscribers):
        ws = await connect(url, additional_headers=headers, max_queue=None)
        await ws.send(json.dumps({"type": "subscribe", "topics": ["request.logs"]}))
        assert json.loads(await ws.recv())["type"] == "ack"
        clients.append(ws)

    sent: dict[str, float] = {}
    from_request: list[float] = []
    from_publish: list[float] = []

    async def read(ws) -> None:
        seen = 0
        while seen < events:
            message = json.loads(await ws.recv())
            now = time.time()
            request_id = message["data"]["request_id"]
            if not request_id.startswith("lat-"):
                continue
            seen += 1
            from_request.append((now - sent[request_id]) * 1000)
            from_publish.append(now * 1000 - message["timestamp"])

    readers = [asyncio.create_task(read(ws)) for ws in clients]
    async with httpx2.AsyncClient(base_url=base) as http:
        for i in range(events):
            request_id = f"lat-{i:05d}"
            sent[request_id] = time.time()
            response = await http.get("/health", headers={"X-Request-ID": request_id})
            assert response.status_code == 200
            await asyncio.sleep(gap)
    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*readers), timeout=120)
    drain_s = time.monotonic() - started
    for ws in clients:
        await ws.close()
    return from_request, from_publish, drain_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between events")
    args = parser.parse_args()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (min(hard, 4 * args.subscribers + 1024), hard)
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        tempfile.TemporaryDirectory() as data,
        (Path(data) / "server.log").open("wb") as log,
    ):
        env = {
            **os.environ,
            "BIND_ADDRESS": f"127.0.0.1:{port}",
            "LTB_DATA_DIR": data,
            "LTB_ADMIN_PASSWORD": PASSWORD,
            "RATE_LIMIT": "100000",
            "RATE_LIMIT_BURST": "100000",
            "OPENAI_API_KEY": "",
            "ANTHROPIC_API_KEY": "",
        }
        server = subprocess.Popen(
            [str(LTB), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx2.get(base + "/health").status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            token = httpx2.post(
                base + "/v1/auth/login",
                json={"username": "admin", "password": PASSWORD},
            ).json()["token"]
            from_request, from_publish, drain_s = asyncio.run(
                run(base, token, args.subscribers, args.events, args.gap)
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=40)

    figures = {
        "subscribers": args.subscribers,
        "events": args.events,
        "deliveries": len(from_request),
        "from_request_ms": {
            "p50": round(percentile(from_request, 0.50), 2),
            "p99": round(percentile(from_request, 0.99), 2),
            "mean": round(statistics.fmean(from_request), 2),
        },
        "from_publish_ms": {
            "p50": round(percentile(from_publish, 0.50), 2),
            "p99": round(percentile(from_publish, 0.99), 2),
        },
        "drain_after_last_event_s": round(drain_s, 3),
    }
    print(json.dumps(figures, indent=2))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "ws_latency.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
