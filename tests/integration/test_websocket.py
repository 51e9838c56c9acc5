"""The WebSocket at /ws, in process: every message checked against asyncapi/.

The slow consumer, random frames and several workers need a real server and
are in tests/e2e/test_websocket_live.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from app.auth.permissions import PERMISSIONS, TOPIC_PREFIX, Role
from app.events import Topic
from tests.integration.conftest import Server, start_server
from tests.integration.test_benchmarks import all_cells, start_benchmark, wait_for
from tests.integration.test_datasets import mmlu_dev_files, upload
from tests.support.asyncapi import check_server_message

VIEWER_PASSWORD = "viewer-password-1"


@contextmanager
def connect(
    server: Server, path: str = "/ws", **options: Any
) -> Iterator[WebSocketTestSession]:
    """A connection that, at the end, waits for the server to finish the session.

    Starlette's test client cancels the application as soon as the client side
    closes; waiting first keeps that cancellation out of the test.
    """
    hub = server.client.app.app.extensions["ltb.websocket_hub"]
    with server.client.websocket_connect(path, **options) as ws:
        yield ws
        ws.close()
        deadline = time.monotonic() + 10
        while hub.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)


def receive(ws: WebSocketTestSession) -> dict[str, Any]:
    """The next message, which must be one the AsyncAPI document describes."""
    message: dict[str, Any] = json.loads(ws.receive_text())
    return check_server_message(message)


def send(ws: WebSocketTestSession, **message: Any) -> None:
    ws.send_text(json.dumps(message))


def closed_with(ws: WebSocketTestSession) -> int:
    """The close code the server sent next."""
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    return closed.value.code


def until(
    ws: WebSocketTestSession, predicate: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read messages until one matches; returns it and those before it."""
    skipped = []
    for _ in range(10_000):
        message = receive(ws)
        if predicate(message):
            return message, skipped
        skipped.append(message)
    raise AssertionError("no matching message")


def viewer_headers(server: Server) -> dict[str, str]:
    runtime = server.client.app.app.extensions["ltb"]
    runtime.auth.create_user("watcher", VIEWER_PASSWORD, "viewer")
    return server.login("watcher", VIEWER_PASSWORD)


def test_every_topic_has_a_permission_entry() -> None:
    topics = {
        op.removeprefix(TOPIC_PREFIX)
        for op in PERMISSIONS
        if op.startswith(TOPIC_PREFIX)
    }
    assert topics == {str(t) for t in Topic}
    assert Role.VIEWER not in PERMISSIONS["subscribe:request.logs"]
    assert Role.VIEWER not in PERMISSIONS["subscribe:system.metrics"]


def test_ping_is_answered_before_authentication_and_nothing_else(
    server: Server,
) -> None:
    with connect(server, "/ws") as ws:
        send(ws, type="ping", timestamp=1710936000000)
        assert receive(ws) == {"type": "pong", "timestamp": 1710936000000}

        send(ws, type="subscribe", topics=["benchmark.progress"], request_id="r1")
        refused = receive(ws)
        assert refused["code"] == "UNAUTHORIZED"
        assert refused["request_id"] == "r1"

        send(ws, type="ping")
        pong = receive(ws)
        assert abs(pong["timestamp"] - time.time() * 1000) < 60_000


def test_a_client_that_never_authenticates_is_closed(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(settings_options={"ws_auth_timeout_s": 0.3})
    with connect(server, "/ws") as ws:
        error = receive(ws)
        assert error["code"] == "UNAUTHORIZED"
        assert "0.3 seconds" in error["message"]
        assert closed_with(ws) == 1008


def test_authentication_by_message_with_a_token_or_an_api_key(server: Server) -> None:
    key = server.client.post(
        "/v1/auth/api-keys", headers=server.auth, json={"name": "ws", "role": "service"}
    ).json()["key"]
    for credential in ({"token": server.token}, {"api_key": key}):
        with connect(server, "/ws") as ws:
            send(ws, type="auth", request_id="a1", **credential)
            ack = receive(ws)
            assert ack["request_id"] == "a1"
            assert ack["topics"] == []
            role = "admin" if "token" in credential else "service"
            assert ack["message"] == f"Authenticated as admin ({role})"

            send(ws, type="auth", **credential)
            assert receive(ws)["code"] == "INVALID_MESSAGE"  # already authenticated


def test_authentication_by_header(server: Server) -> None:
    key = server.client.post(
        "/v1/auth/api-keys", headers=server.auth, json={"name": "ws", "role": "viewer"}
    ).json()["key"]
    for headers in (server.auth, {"X-API-Key": key}):
        with connect(server, "/ws", headers=headers) as ws:
            send(ws, type="subscribe", topics=["benchmark.progress"])
            ack = receive(ws)
            assert ack["type"] == "ack"
            assert ack["topics"] == ["benchmark.progress"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"X-API-Key": "ltb_" + "x" * 32},
    ],
    ids=["bad-jwt", "basic", "unknown-key"],
)
def test_a_bad_header_credential_is_refused(
    server: Server, headers: dict[str, str]
) -> None:
    with connect(server, "/ws", headers=headers) as ws:
        assert receive(ws)["code"] == "UNAUTHORIZED"
        assert closed_with(ws) == 1008


def test_a_token_and_an_api_key_together_are_refused(server: Server) -> None:
    # The token is valid: the unknown key beside it must not go unnoticed. (Two
    # Authorization headers: tests/e2e/test_websocket_live.py, as Starlette's
    # test client sends one header of a name.)
    headers = {**server.auth, "X-API-Key": "ltb_" + "x" * 32}

    with connect(server, "/ws", headers=headers) as ws:
        error = receive(ws)
        assert error["code"] == "UNAUTHORIZED"
        assert error["message"] == (
            "Send one credential: a single Authorization: Bearer <token> or X-API-Key"
        )
        assert closed_with(ws) == 1008


def test_a_bad_auth_message_closes_the_connection(server: Server) -> None:
    with connect(server, "/ws") as ws:
        send(ws, type="auth", token=server.token + "x", request_id="bad")
        error = receive(ws)
        assert (error["code"], error["request_id"]) == ("UNAUTHORIZED", "bad")
        assert closed_with(ws) == 1008


def test_a_credential_in_the_query_string_is_refused(server: Server) -> None:
    for query in (f"token={server.token}", f"access_token={server.token}", "x=1"):
        with connect(server, f"/ws?{query}") as ws:
            error = receive(ws)
            assert error["code"] == "UNAUTHORIZED"
            assert "query string" in error["message"]
            assert server.token not in error["message"]
            assert closed_with(ws) == 1008


def test_origins_must_be_allowed_by_cors_settings(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(settings_options={"cors_origins": ("https://app.example",)})
    allowed = [{"Origin": "https://app.example"}, {"Origin": "http://testserver"}, {}]
    for origin in allowed:
        with connect(server, "/ws", headers={**origin, **server.auth}) as ws:
            send(ws, type="subscribe", topics=["plugin.events"])
            assert receive(ws)["type"] == "ack", origin

    for origin in ("https://evil.example", "null", "https://app.example.evil.example"):
        headers = {"Origin": origin, **server.auth}
        with connect(server, "/ws", headers=headers) as ws:
            error = receive(ws)
            assert error["code"] == "UNAUTHORIZED"
            assert "Origin" in error["message"]
            assert closed_with(ws) == 1008


def test_a_viewer_may_follow_benchmarks_but_not_request_logs_or_metrics(
    server: Server,
) -> None:
    with connect(server, "/ws", headers=viewer_headers(server)) as ws:
        for topic in ("request.logs", "system.metrics"):
            send(
                ws,
                type="subscribe",
                topics=["benchmark.progress", topic],
                request_id="v",
            )
            error = receive(ws)
            assert error == {
                "type": "error",
                "code": "FORBIDDEN",
                "message": f"Role 'viewer' may not subscribe to '{topic}'",
                "request_id": "v",
            }
        # Refused as a whole: nothing of that request was subscribed.
        send(
            ws,
            type="subscribe",
            topics=["benchmark.progress", "evaluation.results", "plugin.events"],
        )
        assert receive(ws)["topics"] == [
            "benchmark.progress",
            "evaluation.results",
            "plugin.events",
        ]


def test_request_logs_show_each_request_without_its_query_string(
    server: Server,
) -> None:
    with connect(server, "/ws", headers=server.auth) as ws:
        send(ws, type="subscribe", topics=["request.logs"])
        receive(ws)
        response = server.client.get(
            "/v1/benchmarks?page=1&page_size=5",
            headers={**server.auth, "X-Request-ID": "trace-1"},
        )
        assert response.status_code == 200
        server.client.get("/v1/nowhere")

        first, _ = until(ws, lambda m: m["data"]["request_id"] == "trace-1")
        assert first["data"]["method"] == "GET"
        assert first["data"]["path"] == "/v1/benchmarks"
        assert first["data"]["status"] == 200
        assert first["data"]["user"] == "admin"
        assert first["data"]["latency_ms"] > 0
        missing, _ = until(ws, lambda m: m["data"]["path"] == "/v1/nowhere")
        assert (missing["data"]["status"], missing["data"]["user"]) == (404, None)
        assert server.token not in json.dumps(first)


def test_system_metrics_are_sampled_for_admins(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(settings_options={"metrics_interval_s": 0.2})
    with connect(server, "/ws", headers=server.auth) as ws:
        send(ws, type="subscribe", topics=["system.metrics"])
        receive(ws)
        sample = receive(ws)["data"]
        assert sample["open_connections"] == 1
        assert sample["memory_rss_bytes"] > 10_000_000
        assert sample["running_benchmarks"] == 0
        assert sample["interval_s"] == 0.2


def test_benchmark_progress_rises_to_completion_with_the_rest_results(
    server: Server, datasets_dir: Path
) -> None:
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    server.provider.delay_s = 0.02
    with connect(server, "/ws", headers=server.auth) as ws:
        send(ws, type="auth", token=server.token)  # already authenticated by header
        assert receive(ws)["code"] == "INVALID_MESSAGE"
        other = start_benchmark(server, iterations=5, name="other")
        created = start_benchmark(server, iterations=30, concurrency=2)
        send(
            ws,
            type="subscribe",
            topics=["benchmark.progress"],
            filter={"benchmark_id": created["benchmark_id"]},
        )
        receive(ws)
        final, before = until(ws, lambda m: m["data"]["status"] != "running")

        rest = wait_for(server, created["benchmark_id"])[-1]
        wait_for(server, other["benchmark_id"])

    events = [m["data"] for m in before] + [final["data"]]
    assert {e["benchmark_id"] for e in events} == {created["benchmark_id"]}
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress)
    assert len(set(progress)) >= 3, progress  # several batches were reported
    assert final["data"]["status"] == "completed"
    assert final["data"]["progress"] == 1.0
    assert final["data"]["completed_cells"] == final["data"]["total_cells"] == 60
    assert final["data"]["results"] == rest["results"]
    assert len(all_cells(server, created["benchmark_id"])) == 60


def test_a_cancelled_benchmark_reports_cancelled(
    server: Server, datasets_dir: Path
) -> None:
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    server.provider.delay_s = 0.2
    with connect(server, "/ws", headers=server.auth) as ws:
        send(ws, type="subscribe", topics=["benchmark.progress"])
        receive(ws)
        created = start_benchmark(server, iterations=40, concurrency=1)
        server.client.post(
            f"/v1/benchmarks/{created['benchmark_id']}/cancel", headers=server.auth
        )
        final, _ = until(
            ws, lambda m: m["data"]["status"] not in {"pending", "running"}
        )
    assert final["data"]["status"] == "cancelled"
    assert final["data"]["results"] is None
    assert final["data"]["completed_cells"] < 80


def test_unsubscribe_stops_the_events(server: Server) -> None:
    with connect(server, "/ws", headers=server.auth) as ws:
        send(ws, type="subscribe", topics=["request.logs", "plugin.events"])
        receive(ws)
        send(ws, type="unsubscribe", topics=["request.logs"], request_id="u")
        assert receive(ws) == {
            "type": "ack",
            "request_id": "u",
            "message": "Unsubscribed from 1 topic",
            "topics": ["plugin.events"],
        }
        server.client.get("/health")
        send(ws, type="ping", timestamp=7)
        assert receive(ws) == {"type": "pong", "timestamp": 7}  # no request.logs event
        # A topic not subscribed to (any more) is not counted as unsubscribed.
        send(ws, type="unsubscribe", topics=["request.logs"], request_id="v")
        assert receive(ws)["message"] == "Unsubscribed from 0 topics"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{", "INVALID_MESSAGE"),
        ("[]", "INVALID_MESSAGE"),
        ('"ping"', "INVALID_MESSAGE"),
        ("{}", "INVALID_MESSAGE"),
        ('{"type": 5}', "INVALID_MESSAGE"),
        ('{"type": "shout"}', "INVALID_MESSAGE"),
        ('{"type": "subscribe"}', "INVALID_MESSAGE"),
        ('{"type": "subscribe", "topics": []}', "INVALID_MESSAGE"),
        ('{"type": "subscribe", "topics": "benchmark.progress"}', "INVALID_MESSAGE"),
        ('{"type": "subscribe", "topics": [1]}', "INVALID_MESSAGE"),
        ('{"type": "subscribe", "topics": ["nope"]}', "UNKNOWN_TOPIC"),
        (
            '{"type": "subscribe", "topics": ["plugin.events"], "filter": {"benchmark_id": "x"}}',  # noqa: E501
            "INVALID_MESSAGE",
        ),
        (
            '{"type": "subscribe", "topics": ["benchmark.progress"], "filter": {"x": 1}}',  # noqa: E501
            "INVALID_MESSAGE",
        ),
        (
            '{"type": "subscribe", "topics": ["benchmark.progress"], "extra": 1}',
            "INVALID_MESSAGE",
        ),
        (
            '{"type": "subscribe", "topics": ["benchmark.progress"], "request_id": 5}',
            "INVALID_MESSAGE",
        ),
        ('{"type": "ping", "timestamp": "now"}', "INVALID_MESSAGE"),
        ('{"type": "ping", "timestamp": -1}', "INVALID_MESSAGE"),
        ('{"type": "auth"}', "INVALID_MESSAGE"),
        ('{"type": "auth", "token": ""}', "INVALID_MESSAGE"),
        ('{"type": "unsubscribe", "topics": ["nope"]}', "UNKNOWN_TOPIC"),
        ('{"type": "ping", "timestamp": 1e400}', "INVALID_MESSAGE"),
        ('{"type": "ping", "x": ' + "[" * 64 + "]" * 64 + "}", "INVALID_MESSAGE"),
        ('{"type": "ping", "x": ' + "[" * 999 + "]" * 999 + "}", "INVALID_MESSAGE"),
        ("\ud800", "INVALID_MESSAGE"),
    ],
)
def test_malformed_messages_get_an_error_and_the_connection_stays(
    server: Server, frame: str, code: str
) -> None:
    with connect(server, "/ws", headers=server.auth) as ws:
        ws.send_text(frame)
        assert receive(ws)["code"] == code
        ws.send_bytes(b'{"type": "ping"}')
        assert receive(ws)["code"] == "INVALID_MESSAGE"
        send(ws, type="ping", timestamp=3)
        assert receive(ws) == {"type": "pong", "timestamp": 3}


def test_a_flood_of_messages_is_rate_limited(server: Server) -> None:
    with connect(server, "/ws", headers=server.auth) as ws:
        for i in range(100):
            send(ws, type="ping", timestamp=i)
        replies = [receive(ws) for _ in range(100)]
    limited = [r for r in replies if r["type"] == "error"]
    assert {r["code"] for r in limited} == {"RATE_LIMIT_EXCEEDED"}
    assert 40 <= 100 - len(limited) < 100


def test_a_revoked_key_is_disconnected(make_server: Callable[..., Server]) -> None:
    server = make_server(settings_options={"ws_reauth_interval_s": 0.2})
    created = server.client.post(
        "/v1/auth/api-keys", headers=server.auth, json={"name": "ws", "role": "user"}
    ).json()
    with connect(server, "/ws", headers={"X-API-Key": created["key"]}) as ws:
        send(ws, type="subscribe", topics=["benchmark.progress"])
        receive(ws)
        revoked = server.client.delete(
            f"/v1/auth/api-keys/{created['id']}", headers=server.auth
        )
        assert revoked.status_code == 204
        error = receive(ws)
        assert error["code"] == "UNAUTHORIZED"
        assert closed_with(ws) == 1008


def test_enable_websocket_false_removes_the_endpoint(tmp_path: Path) -> None:
    with ExitStack() as stack:
        server = start_server(
            stack, tmp_path, settings_options={"enable_websocket": False}
        )
        with (
            pytest.raises(WebSocketDisconnect),
            connect(server, "/ws") as ws,
        ):
            ws.receive_text()
        assert server.client.get("/health").status_code == 200


def test_a_lone_surrogate_echoed_back_does_not_break_the_connection(
    server: Server,
) -> None:
    with connect(server, "/ws", headers=server.auth) as ws:
        ws.send_text(
            '{"type": "subscribe", "topics": ["plugin.events"], "request_id": "\\ud800"}'  # noqa: E501
        )
        assert receive(ws)["request_id"] == "\ud800"
        ws.send_text('{"type": "\\udfff"}')
        assert receive(ws)["code"] == "INVALID_MESSAGE"
        send(ws, type="ping", timestamp=9)
        assert receive(ws) == {"type": "pong", "timestamp": 9}


def test_evaluation_and_plugin_events_match_the_document(server: Server) -> None:
    plugins = server.client.get("/v1/plugins", headers=server.auth).json()["items"]
    ready = [p for p in plugins if p["status"] == "ready"]
    with connect(server, headers=server.auth) as ws:
        send(ws, type="subscribe", topics=["evaluation.results", "plugin.events"])
        receive(ws)

        created = server.client.post(
            "/v1/evaluations",
            headers=server.auth,
            json={
                "input": "What is 2+2?",
                "output": "The answer is 4.",
                "expected": "4",
                "metrics": ["contains", "exact_match", "length"],
            },
        ).json()
        evaluation, _ = until(ws, lambda m: m["topic"] == "evaluation.results")
        assert evaluation["data"]["evaluation_id"] == created["evaluation_id"]
        assert evaluation["data"]["metrics"] == created["metrics"]
        assert evaluation["data"]["score"] == created["score"] == 0.5

        if not ready:
            pytest.skip("no plugin installed to enable and disable")
        plugin = ready[0]["id"]
        for enabled in (False, True):
            response = server.client.patch(
                f"/v1/plugins/{plugin}", headers=server.auth, json={"enabled": enabled}
            )
            assert response.status_code == 200, response.text
            event, _ = until(ws, lambda m: m["topic"] == "plugin.events")
            assert event["data"]["plugin_id"] == plugin
            assert event["data"]["event"] == ("enabled" if enabled else "disabled")
