"""Python models generated from the AsyncAPI payload schemas, against a live /ws.

`tox -e codegen` extracts components/schemas of asyncapi/asyncapi.yaml into one
JSON Schema (codegen/asyncapi_schemas.py), and datamodel-code-generator turns it
into pydantic models, the module ``ltb_ws_messages`` in codegen/out/python. This
test parses every example of the document with them, then every message a live
server sends on /ws to a client that subscribes to request.logs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from websockets.sync.client import ClientConnection, connect

from tests.codegen.generated import require_generated
from tests.support import asyncapi
from tests.support.live_server import LiveServer, live_server

MODULE = require_generated("python/ltb_ws_messages.py")

# The generated module is importable only now, hence the late imports.
import ltb_ws_messages as messages  # noqa: E402

ADMIN_PASSWORD = "codegen-ws-admin-pass"
# websockets logs every handshake header at DEBUG, the Authorization header
# included, which the suite's log scan rightly counts as a leaked JWT.
CLIENT_LOG = logging.getLogger("tests.codegen.websocket_client")
CLIENT_LOG.setLevel(logging.INFO)
EXAMPLES = [
    (name, example["name"], example["payload"])
    for name, message in asyncapi.document()["components"]["messages"].items()
    for example in message.get("examples", [])
]


def parse(payload: dict[str, Any]) -> Any:
    """The generated model of a message: the one the union's member matched."""
    parsed = messages.WebSocketMessage.model_validate(payload).root
    # Auth is itself a union (exactly one of token and api_key).
    return parsed.root if isinstance(parsed, messages.Auth) else parsed


@pytest.mark.parametrize(
    ("message", "payload"),
    [pytest.param(m, p, id=f"{m}-{e}") for m, e, p in EXAMPLES],
)
def test_every_example_of_the_document_parses_as_its_message(
    message: str, payload: dict[str, Any]
) -> None:
    """Each example parses, into the model named by its message's payload."""
    model = type(parse(payload)).__name__

    assert model.startswith(message), f"{message} example parsed as {model}"


@pytest.mark.parametrize(
    "payload",
    [
        # (Both credentials at once do parse: the generated union does not keep
        # oneOf's "exactly one"; the server and the schema validators refuse it.)
        {"type": "auth"},
        {"type": "subscribe", "topics": ["no.such.topic"]},
        {"type": "pong"},
        {"type": "ack", "request_id": "r", "message": "m", "topics": [], "x": 1},
    ],
    ids=["no-credential", "unknown-topic", "pong-without-time", "extra-field"],
)
def test_what_the_document_forbids_does_not_parse(payload: dict[str, Any]) -> None:
    """The models keep the schemas' rules, not just their field names."""
    with pytest.raises(ValidationError):
        messages.WebSocketMessage.model_validate(payload)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """`ltb serve` on a free loopback port."""
    with live_server(tmp_path / "data", {}, ADMIN_PASSWORD) as running:
        yield running


def test_every_message_of_a_live_request_logs_subscription_parses(
    server: LiveServer,
) -> None:
    """Header auth, subscribe, one HTTP request: each frame is a generated model."""
    url = server.base_url.replace("http://", "ws://") + "/ws"
    auth = {"Authorization": server.client.headers["Authorization"]}
    subscribe = messages.Subscribe(
        type="subscribe",
        topics=messages.WebSocketMessageTopics(
            [messages.WebSocketMessageTopic.request_logs]
        ),
        request_id=messages.WebSocketMessageRequestId("logs-1"),
    )
    with connect(
        url, additional_headers=auth, open_timeout=30, logger=CLIENT_LOG
    ) as ws:
        ws.send(subscribe.model_dump_json(exclude_none=True))
        ack = receive(ws)
        assert isinstance(ack, messages.Ack), ack
        assert ack.request_id.root == "logs-1"
        assert ack.topics == [messages.WebSocketMessageTopic.request_logs]

        # The event names the path only, never the query string.
        response = server.client.get("/v1/datasets", params={"page": 1})
        assert response.status_code == 200

        log = receive_log_of(ws, "/v1/datasets")
    assert (log.data.method, log.data.status, log.data.user) == ("GET", 200, "admin")
    assert log.data.request_id == response.headers["X-Request-ID"]
    assert log.data.latency_ms >= 0


def receive(ws: ClientConnection) -> Any:
    """The next frame, checked by the document's schemas and parsed by the models."""
    frame = json.loads(ws.recv(timeout=30))
    asyncapi.check_server_message(frame)
    return parse(frame)


def receive_log_of(ws: ClientConnection, path: str) -> Any:
    """Parse every frame until the request.logs event of ``path``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message = receive(ws)
        assert isinstance(message, messages.RequestLogsEvent), message
        if message.data.path == path:
            return message
    raise AssertionError(f"no request.logs event for {path}")
