"""GraphQL on the real server (`ltb serve`: gunicorn + uvicorn) over real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.conftest import fake_provider_server
from tests.integration.conftest import FAKE_MODEL, answer_b
from tests.support.fake_openai import FakeOpenAI, fake_openai
from tests.support.live_server import LiveServer, wait_for_benchmark

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "graphql-live-admin-pass"
PROTOCOL = "graphql-transport-ws"
PROGRESS = """subscription($id: ID!) {
  benchmarkProgress(id: $id) { status progress results { correct items accuracy } }
}"""


@pytest.fixture
def provider() -> Iterator[FakeOpenAI]:
    with fake_openai(answer_b, delay_s=0.05) as fake:
        yield fake


@pytest.fixture
def server(
    tmp_path: Path, provider: FakeOpenAI, datasets_dir: Path
) -> Iterator[LiveServer]:
    with fake_provider_server(
        tmp_path, provider.base_url, datasets_dir, ADMIN_PASSWORD
    ) as running:
        yield running


def ws_url(server: LiveServer) -> str:
    return server.base_url.replace("http://", "ws://") + "/graphql"


def test_a_benchmark_created_over_graphql_is_watched_to_its_end_over_the_websocket(
    server: LiveServer,
) -> None:
    created = server.client.post(
        "/graphql",
        json={
            "query": """mutation($input: BenchmarkInput!) {
              createBenchmark(input: $input) { id status }
            }""",
            "variables": {
                "input": {
                    "name": "live",
                    "targets": [{"provider": "fake", "model": FAKE_MODEL}],
                    "dataset": "mmlu",
                    "metrics": ["accuracy", "latency"],
                    "iterations": 20,
                    "concurrency": 1,
                }
            },
        },
    ).json()["data"]["createBenchmark"]
    token = server.client.headers["Authorization"]

    messages: list[dict[str, Any]] = []
    with connect(ws_url(server), subprotocols=[PROTOCOL], open_timeout=30) as ws:
        init = {"type": "connection_init", "payload": {"Authorization": token}}
        ws.send(json.dumps(init))
        assert json.loads(ws.recv(timeout=30)) == {"type": "connection_ack"}
        ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": PROGRESS,
                        "variables": {"id": created["id"]},
                    },
                }
            )
        )
        while not messages or messages[-1]["type"] == "next":
            messages.append(json.loads(ws.recv(timeout=120)))
    rest = wait_for_benchmark(server, created["id"], timeout=60)[-1]

    pushed = [m["payload"]["data"]["benchmarkProgress"] for m in messages[:-1]]
    progress = [p["progress"] for p in pushed]
    assert messages[-1] == {"type": "complete", "id": "1"}
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert any(0 < value < 1 for value in progress), progress
    assert pushed[-1]["status"] == "COMPLETED" == rest["status"].upper()
    assert pushed[-1]["results"] == [
        {"correct": t["correct"], "items": t["items"], "accuracy": t["accuracy"]}
        for t in rest["results"]["targets"]
    ]


def test_the_live_server_refuses_a_websocket_without_credentials(
    server: LiveServer,
) -> None:
    with connect(ws_url(server), subprotocols=[PROTOCOL], open_timeout=30) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


def test_the_playground_and_its_files_come_from_the_live_server(
    server: LiveServer,
) -> None:
    page = server.client.get("/graphql", headers={"Authorization": ""})
    script = server.client.get("/graphql/assets/graphiql.min.js")

    assert page.status_code == 200
    assert "/graphql/assets/graphiql.min.js" in page.text
    assert script.status_code == 200
    assert len(script.content) > 500_000
