"""benchmarkProgress over graphql-transport-ws on the /graphql WebSocket."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from tests.integration.conftest import Server
from tests.integration.test_benchmarks import start_benchmark, wait_for
from tests.integration.test_datasets import mmlu_dev_files, upload
from tests.integration.test_graphql import camel

PROTOCOL = "graphql-transport-ws"
PROGRESS = """subscription($id: ID!) {
  benchmarkProgress(id: $id) {
    benchmarkId status progress completedCells totalCells error
    results { targetIndex provider model items errors correct accuracy
              promptTokens completionTokens costUsd latencyMs { p50 p95 p99 mean }
              metrics { name mean } }
  }
}"""


@pytest.fixture
def mmlu_server(server: Server, datasets_dir: Path) -> Server:
    response = upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    assert response.status_code == 201, response.text
    return server


@contextmanager
def connected(
    server: Server, payload: dict[str, Any] | None = None, **options: Any
) -> Iterator[WebSocketTestSession]:
    """A connection acknowledged after connection_init with ``payload``."""
    with server.client.websocket_connect(
        "/graphql", subprotocols=[PROTOCOL], **options
    ) as ws:
        assert ws.accepted_subprotocol == PROTOCOL
        ws.send_json({"type": "connection_init", "payload": payload or server.auth})
        assert ws.receive_json() == {"type": "connection_ack"}
        yield ws


def until_complete(ws: WebSocketTestSession, operation_id: str) -> list[dict[str, Any]]:
    """Every message of one operation up to its complete (or error)."""
    messages = []
    while True:
        message = ws.receive_json()
        assert message["id"] == operation_id, message
        messages.append(message)
        if message["type"] in ("complete", "error"):
            return messages


def close_code(ws: WebSocketTestSession) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return closed.value.code


def test_progress_rises_to_one_and_ends_with_the_results_rest_reports(
    mmlu_server: Server,
) -> None:
    # 20 cells one at a time for at least a second: several of the engine's
    # progress flushes (every 0.25 s) fall inside the run.
    mmlu_server.provider.delay_s = 0.05
    created = start_benchmark(mmlu_server, iterations=10, concurrency=1)

    with connected(mmlu_server) as ws:
        ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": PROGRESS,
                    "variables": {"id": created["benchmark_id"]},
                },
            }
        )
        messages = until_complete(ws, "1")
    rest = wait_for(mmlu_server, created["benchmark_id"])[-1]

    pushed = [m["payload"]["data"]["benchmarkProgress"] for m in messages[:-1]]
    progress = [p["progress"] for p in pushed]
    assert messages[-1] == {"type": "complete", "id": "1"}
    assert all(
        m["type"] == "next" and "errors" not in m["payload"] for m in messages[:-1]
    )
    assert progress == sorted(progress)
    assert any(0 < value < 1 for value in progress), progress
    assert progress[-1] == 1.0
    assert all(p["status"] in ("PENDING", "RUNNING") for p in pushed[:-1])
    assert all(p["results"] is None for p in pushed[:-1])
    final = pushed[-1]
    assert final["status"] == "COMPLETED"
    assert final["completedCells"] == final["totalCells"] == rest["total_cells"] == 20
    # PROGRESS selects every field of a target's results but its parameters.
    assert final["results"] == [
        {k: v for k, v in target.items() if k in final["results"][0]}
        | {"metrics": [{"name": n, "mean": m} for n, m in target["metrics"].items()]}
        | {
            "latencyMs": {
                k: target["latencyMs"][k] for k in ("p50", "p95", "p99", "mean")
            }
        }
        for target in camel(rest["results"]["targets"])
    ]
    assert len(final["results"][0]) >= 12  # every field PROGRESS selects


def test_a_late_subscriber_gets_the_final_state_at_once(mmlu_server: Server) -> None:
    created = start_benchmark(mmlu_server, iterations=3)
    rest = wait_for(mmlu_server, created["benchmark_id"])[-1]

    with connected(mmlu_server) as ws:
        ws.send_json(
            {
                "id": "late",
                "type": "subscribe",
                "payload": {
                    "query": PROGRESS,
                    "variables": {"id": created["benchmark_id"]},
                },
            }
        )
        messages = until_complete(ws, "late")

    assert [m["type"] for m in messages] == ["next", "complete"]
    final = messages[0]["payload"]["data"]["benchmarkProgress"]
    assert final["status"] == "COMPLETED"
    assert final["progress"] == 1.0
    assert [r["correct"] for r in final["results"]] == [
        t["correct"] for t in rest["results"]["targets"]
    ]


def test_an_api_key_authenticates_and_a_cancelled_benchmark_ends_the_stream(
    mmlu_server: Server,
) -> None:
    key = mmlu_server.client.post(
        "/v1/auth/api-keys", headers=mmlu_server.auth, json={"name": "ws"}
    ).json()["key"]
    mmlu_server.provider.delay_s = 0.2
    created = start_benchmark(mmlu_server, concurrency=1)

    with connected(mmlu_server, {"X-API-Key": key}) as ws:
        ws.send_json(
            {
                "id": "c",
                "type": "subscribe",
                "payload": {
                    "query": PROGRESS,
                    "variables": {"id": created["benchmark_id"]},
                },
            }
        )
        first = ws.receive_json()
        cancelled = mmlu_server.client.post(
            f"/v1/benchmarks/{created['benchmark_id']}/cancel", headers=mmlu_server.auth
        )
        rest = until_complete(ws, "c")

    assert first["type"] == "next"
    assert cancelled.status_code == 200
    assert rest[-1] == {"type": "complete", "id": "c"}
    assert rest[-2]["payload"]["data"]["benchmarkProgress"]["status"] == "CANCELLED"


def test_an_unknown_benchmark_is_an_error_message_with_not_found(
    server: Server,
) -> None:
    with connected(server) as ws:
        ws.send_json(
            {
                "id": "x",
                "type": "subscribe",
                "payload": {"query": PROGRESS, "variables": {"id": "nope"}},
            }
        )
        message = ws.receive_json()

    assert message["type"] == "error"
    assert [e["extensions"]["code"] for e in message["payload"]] == ["NOT_FOUND"]


def test_queries_and_mutations_are_sent_to_post_instead(server: Server) -> None:
    with connected(server) as ws:
        ws.send_json(
            {"id": "q", "type": "subscribe", "payload": {"query": "{ version }"}}
        )
        message = ws.receive_json()
        ws.send_json({"type": "ping"})
        pong = ws.receive_json()

    assert message["type"] == "error"
    assert "POST /graphql" in message["payload"][0]["message"]
    assert message["payload"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert pong == {"type": "pong"}


def test_the_limits_apply_to_subscriptions_too(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(settings_options={"graphql_max_depth": 2})

    with connected(server) as ws:
        ws.send_json(
            {
                "id": "deep",
                "type": "subscribe",
                "payload": {"query": PROGRESS, "variables": {"id": "x"}},
            }
        )
        message = ws.receive_json()

    assert message["type"] == "error"
    assert "fields deep" in message["payload"][0]["message"]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic YWRtaW46eA=="},
        {"X-API-Key": "ltb_" + "x" * 32},
    ],
    ids=["no-payload", "empty", "bad-jwt", "basic", "bad-key"],
)
def test_connection_init_without_a_valid_credential_is_closed_with_4403(
    server: Server, payload: dict[str, str] | None
) -> None:
    with server.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"type": "connection_init", "payload": payload})

        assert close_code(ws) == 4403


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-API-Key", "ltb_" + "x" * 32), ("authorization", "Bearer not-a-jwt")],
    ids=["and-a-key", "and-a-token-spelled-otherwise"],
)
def test_a_second_credential_beside_a_valid_token_is_closed_with_4403(
    server: Server, name: str, value: str
) -> None:
    payload = {**server.auth, name: value}  # server.auth's token is valid

    with server.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"type": "connection_init", "payload": payload})

        assert close_code(ws) == 4403


def test_a_key_revoked_after_the_acknowledgement_may_not_subscribe_again(
    server: Server,
) -> None:
    key = server.client.post(
        "/v1/auth/api-keys", headers=server.auth, json={"name": "revoked"}
    ).json()

    with connected(server, {"X-API-Key": key["key"]}) as ws:
        revoked = server.client.delete(
            f"/v1/auth/api-keys/{key['id']}", headers=server.auth
        )
        ws.send_json(
            {
                "id": "after",
                "type": "subscribe",
                "payload": {"query": PROGRESS, "variables": {"id": "x"}},
            }
        )

        assert revoked.status_code in (200, 204)
        assert close_code(ws) == 4403


def test_subscribe_before_the_acknowledgement_is_closed_with_4401(
    server: Server,
) -> None:
    with server.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": PROGRESS}})

        assert close_code(ws) == 4401


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", 4400),
        ('{"type": "unheard-of"}', 4400),
        ('{"type": "connection_init", "payload": null}', None),
    ],
    ids=["not-json", "unknown-type", "second-init"],
)
def test_protocol_violations_close_with_the_protocol_codes(
    server: Server, message: str, code: int | None
) -> None:
    with connected(server) as ws:
        ws.send_text(message)

        assert close_code(ws) == (code or 4429)


def test_a_binary_frame_is_closed_with_4400(server: Server) -> None:
    with connected(server) as ws:
        ws.send_bytes(b'{"type": "ping"}')

        assert close_code(ws) == 4400


def test_a_flood_of_messages_is_closed_with_4429(server: Server) -> None:
    # As on /ws: WS_MESSAGE_RATE (20) a second, bursts of 40 (connection_init
    # counted); the protocol has no reply for the excess, so the socket closes.
    with connected(server) as ws:
        for _ in range(200):
            ws.send_json({"type": "ping"})
        pongs = 0
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(200):
                assert ws.receive_json() == {"type": "pong"}
                pongs += 1

    assert (closed.value.code, closed.value.reason) == (4429, "Too many messages")
    assert 39 <= pongs < 100


def test_a_client_under_the_message_rate_is_served(server: Server) -> None:
    # 70 messages in two seconds: beyond the burst, within the rate.
    with connected(server) as ws:
        for batch, pause in ((30, 1.0), (20, 1.0), (20, 0.0)):
            for _ in range(batch):
                ws.send_json({"type": "ping"})
            for _ in range(batch):
                assert ws.receive_json() == {"type": "pong"}
            time.sleep(pause)
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "{ me }"}})

        refused = ws.receive_json()  # answered, not closed

    assert refused["type"] == "error"
    assert refused["payload"][0]["message"].startswith("Only subscriptions")


def test_a_duplicate_operation_id_is_closed_with_4409(mmlu_server: Server) -> None:
    mmlu_server.provider.delay_s = 0.2
    created = start_benchmark(mmlu_server, concurrency=1)
    subscribe = {
        "id": "same",
        "type": "subscribe",
        "payload": {"query": PROGRESS, "variables": {"id": created["benchmark_id"]}},
    }

    with connected(mmlu_server) as ws:
        ws.send_json(subscribe)
        assert ws.receive_json()["type"] == "next"
        ws.send_json(subscribe)
        while True:
            try:
                ws.receive_json()
            except WebSocketDisconnect as closed:
                assert closed.code == 4409
                break
    mmlu_server.client.post(
        f"/v1/benchmarks/{created['benchmark_id']}/cancel", headers=mmlu_server.auth
    )


def test_without_the_subprotocol_the_socket_is_closed_with_4406(server: Server) -> None:
    with server.client.websocket_connect("/graphql") as ws:
        assert close_code(ws) == 4406


def test_a_foreign_origin_is_refused_and_the_same_origin_is_not(server: Server) -> None:
    with (
        pytest.raises(WebSocketDisconnect),
        server.client.websocket_connect(
            "/graphql",
            subprotocols=[PROTOCOL],
            headers={"Origin": "https://evil.example"},
        ) as ws,
    ):
        ws.receive_json()

    with connected(server, headers={"Origin": "http://testserver"}) as ws:
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_a_query_string_is_refused_as_on_ws(server: Server) -> None:
    # Found by a new user: /graphql took ?token=... while /ws refuses it.
    with (
        pytest.raises(WebSocketDisconnect),
        server.client.websocket_connect(
            f"/graphql?token={server.token}", subprotocols=[PROTOCOL]
        ) as ws,
    ):
        ws.receive_json()


def test_an_origin_in_cors_origins_is_allowed(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(settings_options={"cors_origins": ("https://app.example",)})

    with connected(server, headers={"Origin": "https://app.example"}) as ws:
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_a_client_that_leaves_mid_stream_leaves_no_listener_behind(
    mmlu_server: Server,
) -> None:
    runtime = mmlu_server.client.app.app.extensions["ltb"]
    before = runtime.events.listener_count
    mmlu_server.provider.delay_s = 0.2
    created = start_benchmark(mmlu_server, concurrency=1)

    with connected(mmlu_server) as ws:
        ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": PROGRESS,
                    "variables": {"id": created["benchmark_id"]},
                },
            }
        )
        assert ws.receive_json()["type"] == "next"
        during = runtime.events.listener_count
    deadline = time.monotonic() + 5
    while runtime.events.listener_count != before and time.monotonic() < deadline:
        time.sleep(0.02)

    assert during == before + 1
    assert runtime.events.listener_count == before
    mmlu_server.client.post(
        f"/v1/benchmarks/{created['benchmark_id']}/cancel", headers=mmlu_server.auth
    )


def test_disabling_graphql_refuses_the_websocket(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(settings_options={"enable_graphql": False})

    with (
        pytest.raises(WebSocketDisconnect),
        server.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws,
    ):
        ws.receive_json()
