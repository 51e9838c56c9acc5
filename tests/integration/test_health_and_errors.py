"""Health, request ids and the error envelope for every kind of failure."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

from app import __version__
from app.benchmarks import service as benchmark_service
from tests.integration.conftest import Server

ENVELOPE_KEYS = {"error", "request_id", "timestamp"}


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    datetime.fromisoformat(body["timestamp"])
    return body


def test_health_reports_version_and_a_growing_uptime(server: Server) -> None:
    first = server.client.get("/health").json()
    time.sleep(1.1)
    second = server.client.get("/health").json()

    assert first["status"] == "healthy"
    assert first["version"] == __version__
    assert second["uptime_seconds"] >= first["uptime_seconds"] + 1
    datetime.fromisoformat(second["timestamp"])


def test_every_response_gets_a_request_id_and_an_incoming_one_is_kept(
    server: Server,
) -> None:
    generated = server.client.get("/health").headers["X-Request-ID"]
    kept = server.client.get("/health", headers={"X-Request-ID": "trace-42"})

    assert re.fullmatch(r"[0-9a-f-]{36}", generated)
    assert kept.headers["X-Request-ID"] == "trace-42"


def test_an_unusable_incoming_request_id_is_replaced(server: Server) -> None:
    response = server.client.get("/health", headers={"X-Request-ID": "a b<script>"})

    assert response.headers["X-Request-ID"] != "a b<script>"


def test_unknown_route_is_a_404_in_the_envelope(server: Server) -> None:
    assert_envelope(server.client.get("/v1/nothing-here"), 404, "NOT_FOUND")


def test_wrong_method_is_a_405_in_the_envelope(server: Server) -> None:
    assert_envelope(server.client.delete("/health"), 405, "BAD_REQUEST")


def test_wrong_media_type_is_a_415_in_the_envelope(server: Server) -> None:
    response = server.client.post(
        "/v1/auth/login", content=b"user=admin", headers={"Content-Type": "text/plain"}
    )
    assert_envelope(response, 415, "BAD_REQUEST")


def test_non_utf8_body_is_a_400_not_a_500(server: Server) -> None:
    response = server.client.post(
        "/v1/auth/login",
        content=b"\xff\xfe{}",
        headers={"Content-Type": "application/json"},
    )
    assert_envelope(response, 400, "BAD_REQUEST")


def test_malformed_json_is_a_400_naming_the_position(server: Server) -> None:
    response = server.client.post(
        "/v1/auth/login",
        content=b'{"username": "admin",',
        headers={"Content-Type": "application/json"},
    )
    body = assert_envelope(response, 400, "BAD_REQUEST")
    assert "line 1" in body["error"]["message"]


def test_validation_errors_name_every_failing_field(server: Server) -> None:
    response = server.client.post(
        "/v1/benchmarks",
        headers=server.auth,
        json={
            "name": "",
            "providers": [{"provider": "fake"}],
            "dataset": "mmlu",
            # Metric names are checked against the registry after the schema;
            # the schema still refuses a name that is not a string.
            "metrics": ["accuracy", 7],
            "iterations": 0,
            "surprise": True,
        },
    )
    body = assert_envelope(response, 400, "BAD_REQUEST")
    fields = {error["field"] for error in body["error"]["details"]["errors"]}
    assert fields == {"name", "providers.0.model", "metrics.1", "iterations", None}


def test_query_parameter_errors_name_each_parameter(server: Server) -> None:
    response = server.client.get(
        "/v1/benchmarks?page=abc&page_size=500&colour=red", headers=server.auth
    )
    body = assert_envelope(response, 400, "BAD_REQUEST")
    fields = [error["field"] for error in body["error"]["details"]["errors"]]
    assert fields == ["colour", "page", "page_size"]


def test_missing_credentials_are_a_401_in_the_envelope(server: Server) -> None:
    assert_envelope(server.client.get("/v1/benchmarks"), 401, "UNAUTHORIZED")


def test_an_unexpected_failure_is_a_500_that_reveals_nothing(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals at /srv/app.py")

    monkeypatch.setattr(benchmark_service, "list_benchmarks", explode)
    response = server.client.get("/v1/benchmarks", headers=server.auth)

    body = assert_envelope(response, 500, "INTERNAL_ERROR")
    assert "secret" not in response.text
    assert "/srv" not in response.text
    assert body["error"]["details"] == {}


def test_swagger_ui_and_the_spec_are_served(server: Server) -> None:
    ui = server.client.get("/swagger-ui/")
    spec = server.client.get("/api-docs/openapi.json")

    assert ui.status_code == 200
    assert "swagger-ui" in ui.text
    assert spec.json()["info"]["title"] == "LLM Test Bench API"
    assert "/v1/benchmarks" in spec.json()["paths"]
