"""The WebSocket on the real server (`ltb serve`): slow consumers, random frames,
keep-alive, and events crossing worker processes through Redis.

Every message the clients read is checked against asyncapi/asyncapi.yaml.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.integration.test_datasets import mmlu_dev_files
from tests.support.asyncapi import check_server_message
from tests.support.fake_openai import fake_openai
from tests.support.live_server import (
    LiveServer,
    all_cells,
    live_server,
    wait_for_benchmark,
)
from tests.support.redis import redis_prefix
from tests.support.ws_raw import ConnectionClosed, RawWebSocket

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "e2e-websocket-admin"
EVENTS = 10_000
QUEUE = 500
PADDED_PATH = "/padding/" + "p" * 4000
# gunicorn's error log line for an accepted WebSocket: "[pid] [INFO] host:port - ..."
ACCEPTED = re.compile(r'\[(\d+)\] \[INFO\] [\d.]+:(\d+) - "WebSocket /ws" \[accepted\]')


def connection_pids(log: str) -> dict[int, int]:
    """Client port -> pid of the worker that accepted it."""
    return {int(port): int(pid) for pid, port in ACCEPTED.findall(log)}


def host_port(server: LiveServer) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def worker_rss(server: LiveServer) -> int:
    (worker,) = psutil.Process(server.process.pid).children()
    rss: int = worker.memory_info().rss
    return rss


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One worker, in-process bus, a small outbox so a slow client overflows it."""
    env = {
        "WS_QUEUE_SIZE": str(QUEUE),
        # Raised for the random frames, not switched off.
        "WS_MESSAGE_RATE": "10000",
        "RATE_LIMIT": "100000",
        "RATE_LIMIT_BURST": "100000",
    }
    with live_server(tmp_path_factory.mktemp("ws"), env, ADMIN_PASSWORD) as running:
        yield running


class Reader(threading.Thread):
    """Reads a connection's messages in the background, checking each."""

    def __init__(self, ws: RawWebSocket) -> None:
        super().__init__(daemon=True)
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.closed: BaseException | None = None

    def run(self) -> None:
        try:
            while True:
                self.messages.append(check_server_message(self.ws.receive_json()))
        except (ConnectionError, OSError) as e:
            self.closed = e


def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything(
    server: LiveServer,
) -> None:
    host, port = host_port(server)
    headers = {"Authorization": server.client.headers["Authorization"]}
    slow = RawWebSocket(host, port, headers=headers, receive_buffer=4096)
    fast = RawWebSocket(host, port, headers=headers)
    for ws in (slow, fast):
        ws.send_json({"type": "subscribe", "topics": ["request.logs"]})
        assert check_server_message(ws.receive_json())["type"] == "ack"
    reader = Reader(fast)
    reader.start()

    # From here the slow client reads nothing. Each request publishes one event of
    # over 4 KB (its long path): 40 MB in all, more than the sockets can buffer.
    rss = []
    for i in range(EVENTS):
        response = server.client.get(
            PADDED_PATH, headers={"X-Request-ID": f"seq-{i:05d}"}
        )
        assert response.status_code == 404
        if i in (1_000, EVENTS - 1):
            rss.append(worker_rss(server))

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen = [m["data"]["request_id"] for m in reader.messages]
        if seen and seen[-1] == f"seq-{EVENTS - 1:05d}":
            break
        time.sleep(0.1)
    seen = [m["data"]["request_id"] for m in reader.messages]
    ours = [s for s in seen if s and s.startswith("seq-")]
    assert ours == [f"seq-{i:05d}" for i in range(EVENTS)]  # all, in order
    assert reader.closed is None

    # The slow client finds what fit in the buffers, then the end of the connection.
    slow.sock.settimeout(30)
    received, ending = 0, None
    try:
        while True:
            slow.receive_json()
            received += 1
    except ConnectionClosed as e:
        ending = e.code
    except ConnectionError:
        ending = "dropped"
    assert received < EVENTS
    assert ending in (1013, "dropped"), ending
    assert "is not reading its events; closing it" in server.log()
    # Flat memory: 9,000 more events cost the worker no more than a few MB.
    assert rss[1] - rss[0] < 16 * 2**20, rss
    fast.close()
    slow.close()


def random_frame(rng: random.Random) -> tuple[bytes, int]:
    """A frame a confused or hostile client might send: (payload, opcode)."""
    choice = rng.randrange(9)
    if choice == 0:
        return rng.randbytes(rng.randrange(200)), 0x1  # often not UTF-8
    if choice == 1:
        return rng.randbytes(rng.randrange(200)), 0x2
    if choice == 2:
        return b"x" * (70 * 1024), 0x1  # over the 64 KiB limit
    if choice == 3:
        return json.dumps(random_json(rng, 4)).encode(), 0x1
    if choice == 4:
        kind = rng.choice(
            ["subscribe", "unsubscribe", "auth", "ping", "pong", "", None]
        )
        body = {"type": kind, random_text(rng): random_json(rng, 2)}
        return json.dumps(body).encode(), 0x1
    if choice == 5:
        topics = [rng.choice(["benchmark.progress", "request.logs", "x", 1, None])]
        return json.dumps({"type": "subscribe", "topics": topics}).encode(), 0x1
    if choice == 6:
        return rng.randbytes(rng.randrange(20)), rng.choice([0x3, 0x7, 0xB, 0xF])
    if choice == 7:
        return b'{"type": "ping"', 0x0  # a continuation with nothing to continue
    return json.dumps({"type": "ping", "timestamp": rng.randrange(2**60)}).encode(), 0x1


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice('ab\u00e9\u2603"\\{}') for _ in range(rng.randrange(8)))


def random_json(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(7 if depth else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([0, -1, 2**70, 1.5, float("1e300")])
    if kind == 2:
        return random_text(rng)
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return []
    if kind == 5:
        return [random_json(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {
        random_text(rng): random_json(rng, depth - 1) for _ in range(rng.randrange(4))
    }


def test_random_frames_never_take_the_server_down(server: LiveServer) -> None:
    host, port = host_port(server)
    headers = {"Authorization": server.client.headers["Authorization"]}
    rng = random.Random(20261204)
    watcher = RawWebSocket(host, port, headers=headers)
    closes = 0
    ws = RawWebSocket(host, port, headers=headers)
    for i in range(400):
        payload, opcode = random_frame(rng)
        try:
            ws.send_frame(payload, opcode=opcode)
            if i % 10 == 0:
                ws.send_json({"type": "ping", "timestamp": i})
                while (reply := check_server_message(ws.receive_json()))[
                    "type"
                ] != "pong":
                    assert reply["type"] in {"error", "ack", "event"}
        except (ConnectionError, OSError):
            closes += 1  # a protocol error closes that connection, as it should
            ws.close()
            ws = RawWebSocket(host, port, headers=headers)
        # The server, and every other connection, carry on.
        watcher.send_json({"type": "ping", "timestamp": i})
        assert watcher.receive_json() == {"type": "pong", "timestamp": i}
    ws.close()
    watcher.close()
    assert 0 < closes < 400
    assert server.client.get("/health").status_code == 200
    assert server.process.poll() is None
    assert not re.search(r"\[ERROR\]|Traceback", server.log()), server.log()[-3000:]


def test_a_client_that_never_answers_pings_is_closed(tmp_path: Path) -> None:
    env = {"WS_PING_INTERVAL": "0.5", "WS_PING_TIMEOUT": "0.5"}
    with live_server(tmp_path / "data", env, ADMIN_PASSWORD) as server:
        host, port = host_port(server)
        headers = {"Authorization": server.client.headers["Authorization"]}
        deaf = RawWebSocket(host, port, headers=headers)
        alive = RawWebSocket(host, port, headers=headers)
        # The live client answers every ping as it comes, from its own thread.
        reader = Reader(alive)
        reader.start()
        try:
            started = time.monotonic()
            pings = 0
            try:
                while time.monotonic() - started < 15:
                    opcode, _ = deaf.receive_frame()  # never answers
                    pings += opcode == 0x9
                    if opcode == 0x8:
                        break
            except ConnectionError:
                pass
            assert pings >= 1
            assert time.monotonic() - started < 15, "the deaf client was never closed"

            time.sleep(2)  # several ping intervals: the answering client stays
            alive.send_json({"type": "ping", "timestamp": 1})
            deadline = time.monotonic() + 10
            while not reader.messages and time.monotonic() < deadline:
                time.sleep(0.05)
            assert reader.messages == [{"type": "pong", "timestamp": 1}]
            assert reader.closed is None
        finally:
            deaf.close()
            alive.close()


def test_a_query_string_credential_never_reaches_the_log(server: LiveServer) -> None:
    host, port = host_port(server)
    token = server.client.headers["Authorization"].removeprefix("Bearer ")
    ws = RawWebSocket(host, port, path=f"/ws?token={token}")
    error = check_server_message(ws.receive_json())
    assert error["code"] == "UNAUTHORIZED"
    with pytest.raises(ConnectionClosed) as closed:
        ws.receive_json()
    assert closed.value.code == 1008
    ws.close()
    time.sleep(0.5)
    log = server.log()
    assert token not in log
    assert "/ws?[redacted]" in log


def test_a_second_authorization_header_is_refused(server: LiveServer) -> None:
    # The first token is valid; a server reading only the first header would
    # accept the connection and never look at the bad one.
    host, port = host_port(server)
    token = server.client.headers["Authorization"]
    ws = RawWebSocket(
        host,
        port,
        headers=[("Authorization", token), ("Authorization", "Bearer not-a-jwt")],
    )
    error = check_server_message(ws.receive_json())
    with pytest.raises(ConnectionClosed) as closed:
        ws.receive_json()
    ws.close()

    assert error["code"] == "UNAUTHORIZED"
    assert error["message"] == (
        "Send one credential: a single Authorization: Bearer <token> or X-API-Key"
    )
    assert closed.value.code == 1008


@pytest.mark.postgres
def test_events_reach_clients_of_every_worker_through_redis(
    tmp_path: Path, postgres_url: str, datasets_dir: Path
) -> None:
    with (
        redis_prefix() as prefix,
        fake_openai(lambda prompt: "Answer: B", delay_s=0.05) as provider,
    ):
        providers = tmp_path / "providers.yaml"
        providers.write_text(
            "providers:\n  - name: fake\n    kind: openai\n"
            f"    base_url: {provider.base_url}\n    api_key_env: null\n"
            "    models:\n      fake-model: {input_per_mtok: 1, output_per_mtok: 2}\n",
            encoding="utf-8",
        )
        env = {
            "DATABASE_URL": postgres_url,
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "LTB_REDIS_PREFIX": prefix,
            "LTB_PROVIDERS_FILE": str(providers),
        }
        with live_server(
            tmp_path / "data", env, ADMIN_PASSWORD, ["--workers", "2"]
        ) as server:
            run_across_workers(server, mmlu_dev_files(datasets_dir))


def run_across_workers(server: LiveServer, mmlu: list[tuple[str, bytes]]) -> None:
    host, port = host_port(server)
    headers = {"Authorization": server.client.headers["Authorization"]}

    # Open connections until two are served by different workers (the log says
    # which worker accepted each client port). The server is healthy as soon as
    # one worker answers; on a loaded machine the other may still be starting,
    # so this keeps trying for a while rather than a fixed number of times.
    clients: dict[int, RawWebSocket] = {}
    deadline = time.monotonic() + 90
    while len(clients) < 2 and time.monotonic() < deadline:
        ws = RawWebSocket(host, port, headers=headers)
        ws.send_json({"type": "subscribe", "topics": ["benchmark.progress"]})
        assert check_server_message(ws.receive_json())["type"] == "ack"
        pid = connection_pids(server.log()).get(ws.local_port)
        if pid is not None and pid not in clients:
            clients[pid] = ws
        else:
            ws.close()
            time.sleep(0.2)
    if len(clients) < 2:
        for ws in clients.values():
            ws.close()
        pytest.fail("every connection landed on one worker for 90 s")

    try:
        response = server.client.post(
            "/v1/datasets",
            data={"name": "mmlu", "format": "mmlu-csv"},
            files=[("file", file) for file in mmlu],
        )
        assert response.status_code == 201, response.text
        created = server.client.post(
            "/v1/benchmarks",
            json={
                "name": "across workers",
                "providers": [{"provider": "fake", "model": "fake-model"}],
                "dataset": "mmlu",
                "metrics": ["accuracy"],
                "iterations": 40,
                "concurrency": 2,
            },
        ).json()
        final = wait_for_benchmark(server, created["benchmark_id"], timeout=120)[-1]
        assert final["status"] == "completed"
        assert len(all_cells(server, created["benchmark_id"])) == 40

        for pid, ws in clients.items():
            events = []
            while not events or events[-1]["status"] == "running":
                message = check_server_message(ws.receive_json())
                if message["data"]["benchmark_id"] == created["benchmark_id"]:
                    events.append(message["data"])
            progress = [e["progress"] for e in events]
            assert progress == sorted(progress), (pid, progress)
            assert events[-1]["status"] == "completed", pid
            assert events[-1]["progress"] == 1.0
            assert events[-1]["results"] == final["results"]
    finally:
        for ws in clients.values():
            ws.close()


def test_request_logs_name_the_authenticated_user(server: LiveServer) -> None:
    host, port = host_port(server)
    ws = RawWebSocket(
        host, port, headers={"Authorization": server.client.headers["Authorization"]}
    )
    ws.send_json({"type": "subscribe", "topics": ["request.logs"]})
    check_server_message(ws.receive_json())
    key = server.client.post(
        "/v1/auth/api-keys", json={"name": "logs", "role": "viewer"}
    ).json()["key"]
    server.client.get("/v1/providers", headers={"X-Request-ID": "who-jwt"})
    server.client.get(
        "/v1/providers",
        headers={"X-Request-ID": "who-key", "X-API-Key": key, "Authorization": ""},
    )
    users = {}
    while len(users) < 2:
        data = check_server_message(ws.receive_json())["data"]
        if data["request_id"] in ("who-jwt", "who-key"):
            users[data["request_id"]] = (data["user"], data["status"])
    ws.close()
    assert users == {"who-jwt": ("admin", 200), "who-key": ("admin", 200)}
