"""GET /health/ready: 503 in the envelope when a dependency is down, 200 when back.

Redis is a redis-server of the test's own (tests/support/redis.py), stopped and
started again on its port; the machine's shared Redis is never touched.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import Server
from tests.support import log_scan
from tests.support.llm_server import free_loopback_port
from tests.support.redis import own_redis_server

REDIS_PASSWORD = "readiness-redis-secret-1"
log_scan.PASSWORDS.add(REDIS_PASSWORD)
RABBITMQ = ("127.0.0.1", 5672)


def ready(server: Server) -> Any:
    return server.client.get("/health/ready")


def test_ready_with_the_embedded_defaults(server: Server) -> None:
    response = ready(server)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["database"]["latency_ms"] >= 0
    assert body["checks"]["redis"] == {"status": "not_configured"}
    assert body["checks"]["broker"] == {"status": "not_configured"}


def test_redis_stopped_gives_503_naming_it_and_recovers_when_back(
    make_server: Callable[..., Server],
) -> None:
    with own_redis_server(password=REDIS_PASSWORD) as redis_server:
        server = make_server(
            settings_options={
                "redis_url": redis_server.url,
                "celery_broker_url": redis_server.url.replace("/0", "/1"),
            }
        )
        assert ready(server).status_code == 200

        redis_server.stop()
        started = time.monotonic()
        down = ready(server)
        took = time.monotonic() - started

        redis_server.start()
        back = ready(server)

    assert down.status_code == 503
    error = down.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["message"] == "Not ready: redis, broker are down"
    assert error["details"]["failing"] == ["redis", "broker"]
    checks = error["details"]["checks"]
    assert checks["database"]["status"] == "up"
    assert checks["redis"]["status"] == "down"
    assert checks["redis"]["error"] == "ConnectionError"
    # Neither the password nor the address of Redis is told.
    assert REDIS_PASSWORD not in down.text
    assert str(redis_server.port) not in down.text
    assert took < 5
    assert down.headers["X-Request-ID"] == down.json()["request_id"]
    assert back.status_code == 200
    assert back.json()["checks"]["redis"]["status"] == "up"
    assert back.json()["checks"]["broker"]["status"] == "up"


def test_with_celery_and_no_broker_url_redis_is_checked_as_the_broker(
    make_server: Callable[..., Server],
) -> None:
    with own_redis_server(password=REDIS_PASSWORD) as redis_server:
        server = make_server(
            settings_options={"executor": "celery", "redis_url": redis_server.url}
        )
        up = ready(server)
        redis_server.stop()
        down = ready(server)
        redis_server.start()

    assert up.status_code == 200
    assert up.json()["checks"]["broker"]["status"] == "up"
    assert down.status_code == 503
    assert down.json()["error"]["details"]["failing"] == ["redis", "broker"]


def test_an_amqp_broker_that_does_not_answer_is_down(
    make_server: Callable[..., Server],
) -> None:
    port = free_loopback_port()  # nobody listens there
    server = make_server(
        settings_options={"celery_broker_url": f"amqp://guest:guest@127.0.0.1:{port}//"}
    )

    response = ready(server)

    assert response.status_code == 503
    details = response.json()["error"]["details"]
    assert details["failing"] == ["broker"]
    assert details["checks"]["broker"]["error"] == "ConnectionRefusedError"
    assert "guest" not in response.text


def test_an_amqp_broker_that_greets_is_up(make_server: Callable[..., Server]) -> None:
    try:
        socket.create_connection(RABBITMQ, timeout=2).close()
    except OSError:
        pytest.skip("no RabbitMQ on 127.0.0.1:5672")
    server = make_server(
        settings_options={"celery_broker_url": "amqp://guest:guest@127.0.0.1:5672//"}
    )

    response = ready(server)

    assert response.status_code == 200, response.text
    assert response.json()["checks"]["broker"]["status"] == "up"


def test_a_broker_that_speaks_neither_redis_nor_amqp_is_left_unchecked(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(settings_options={"celery_broker_url": "sqs://"})

    response = ready(server)

    assert response.status_code == 200
    assert response.json()["checks"]["broker"]["status"] == "unchecked"


def test_a_peer_that_is_not_an_amqp_broker_is_down(
    make_server: Callable[..., Server],
) -> None:
    with own_redis_server() as redis_server:
        # Redis answers the AMQP header with an error line, not a method frame.
        server = make_server(
            settings_options={
                "celery_broker_url": f"amqp://127.0.0.1:{redis_server.port}//"
            }
        )
        response = ready(server)

    assert response.status_code == 503
    assert response.json()["error"]["details"]["failing"] == ["broker"]
