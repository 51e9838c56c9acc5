"""Both provider kinds failing: retries, Retry-After, timeouts and upstream errors."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import TYPE_CHECKING

import pytest

from app.errors import ErrorCode
from app.providers import ProviderError
from app.providers.anthropic_messages import retry_after_seconds
from tests.unit.providers.wire import (
    KEY,
    WIRES,
    Wire,
    complete_once,
    failure_of,
    registry_for,
)

if TYPE_CHECKING:
    from tests.unit.providers.wire import Start


@pytest.mark.parametrize("wire", WIRES)
def test_a_429_is_retried_after_the_delay_in_retry_after(
    wire: Wire, upstream: Start
) -> None:
    server = upstream(
        wire.error(429, "Slow down", {"Retry-After": "1"}),
        wire.success("late but fine", prompt=10, completion=3, cached=0),
    )

    completion = complete_once(wire, server)

    assert completion.text == "late but fine"
    assert len(server.seen) == 2
    assert server.seen[1].at - server.seen[0].at >= 0.9
    assert completion.latency_ms >= 900


@pytest.mark.parametrize("wire", WIRES)
def test_two_500s_are_retried_with_backoff_until_success(
    wire: Wire, upstream: Start
) -> None:
    server = upstream(
        wire.error(500, "Oops"),
        wire.error(500, "Oops again"),
        wire.success("third time lucky", prompt=10, completion=3, cached=0),
    )

    completion = complete_once(wire, server)

    assert completion.text == "third time lucky"
    assert len(server.seen) == 3


@pytest.mark.parametrize("wire", WIRES)
def test_a_persistent_503_is_unavailable_after_max_retries_plus_one_attempts(
    wire: Wire, upstream: Start
) -> None:
    # retry-after-ms keeps the test fast and shows both SDKs read it.
    server = upstream(wire.error(503, "Overloaded", {"retry-after-ms": "20"}))

    error = failure_of(wire, server, max_retries=3)

    assert error.code == ErrorCode.SERVICE_UNAVAILABLE
    assert error.status == 503
    assert len(server.seen) == 4
    assert error.details["provider"] == "fake"
    assert error.details["reason"] == "upstream_error"
    assert error.details["upstream_status"] == 503
    assert error.details["upstream_message"] == "Overloaded"


@pytest.mark.parametrize("wire", WIRES)
def test_a_429_that_outlasts_the_retries_is_unavailable(
    wire: Wire, upstream: Start
) -> None:
    server = upstream(wire.error(429, "Rate limited", {"retry-after-ms": "10"}))

    error = failure_of(wire, server, max_retries=1)

    assert error.code == ErrorCode.SERVICE_UNAVAILABLE
    assert error.details["reason"] == "rate_limited"
    assert error.details["upstream_status"] == 429
    assert len(server.seen) == 2


@pytest.mark.parametrize("wire", WIRES)
def test_a_retry_after_beyond_two_minutes_is_not_waited_for(
    wire: Wire, upstream: Start
) -> None:
    server = upstream(wire.error(429, "Come back in an hour", {"Retry-After": "3600"}))
    started = time.monotonic()

    error = failure_of(wire, server)

    assert error.code == ErrorCode.SERVICE_UNAVAILABLE
    assert error.details["reason"] == "rate_limited"
    assert len(server.seen) == 1
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("wire", WIRES)
def test_a_reply_that_never_comes_is_unavailable_after_the_timeout(
    wire: Wire, upstream: Start
) -> None:
    server = upstream({"hang": True})
    started = time.monotonic()

    error = failure_of(wire, server, timeout_s=0.5, max_retries=0)

    elapsed = time.monotonic() - started
    assert error.code == ErrorCode.SERVICE_UNAVAILABLE
    assert error.details["reason"] == "timeout"
    assert "0.5 s" in error.message
    assert len(server.seen) == 1
    assert 0.45 <= elapsed < 3


def test_a_server_that_hangs_up_is_unreachable_not_a_timeout(upstream: Start) -> None:
    wire = Wire("openai", "/v1/chat/completions")
    server = upstream({"hang_up": True})
    started = time.monotonic()

    error = failure_of(wire, server, timeout_s=30, max_retries=1)

    assert error.code == ErrorCode.SERVICE_UNAVAILABLE
    assert error.details["reason"] == "unreachable"
    assert "did not reply within" not in error.message
    assert len(server.seen) == 2  # the SDK's retry, then the error
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("wire", WIRES)
def test_a_refused_connection_is_unavailable(wire: Wire, closed_port: int) -> None:
    base_url = f"http://127.0.0.1:{closed_port}"
    registry = registry_for(wire, base_url, timeout_s=2.0, max_retries=0)

    async def call() -> None:
        try:
            await registry.get("fake").complete("m-1", "Hi")
        finally:
            await registry.aclose()

    with pytest.raises(ProviderError) as caught:
        asyncio.run(call())

    assert caught.value.code == ErrorCode.SERVICE_UNAVAILABLE
    assert caught.value.details["reason"] == "unreachable"
    # The innermost error: httpx's (anthropic) or the OS's under aiohttp (openai).
    assert caught.value.details["cause"] in {"ConnectError", "ConnectionRefusedError"}
    assert KEY not in str(caught.value) + repr(caught.value.details)


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(("status", "message"), [(401, "Invalid API key"), (403, "No")])
def test_refused_credentials_are_the_servers_fault_a_503(
    wire: Wire, upstream: Start, status: int, message: str
) -> None:
    # The key comes from the server's configuration: the caller cannot fix it.
    server = upstream(wire.error(status, message))

    error = failure_of(wire, server)

    assert error.code == ErrorCode.SERVICE_UNAVAILABLE
    assert error.status == 503
    assert len(server.seen) == 1
    assert error.details == {
        "provider": "fake",
        "reason": "credentials_refused",
        "upstream_status": status,
        "upstream_message": message,
    }
    assert error.message == (
        f"Provider 'fake' refused this server's credentials (HTTP {status}): {message}"
    )


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(
    ("status", "message"),
    [(400, "max_tokens is too large"), (404, "Model m-1 does not exist")],
)
def test_an_upstream_4xx_is_a_bad_request_with_the_upstream_message(
    wire: Wire, upstream: Start, status: int, message: str
) -> None:
    server = upstream(wire.error(status, message))

    error = failure_of(wire, server)

    assert error.code == ErrorCode.BAD_REQUEST
    assert error.status == 400
    assert len(server.seen) == 1
    assert error.details == {
        "provider": "fake",
        "reason": "rejected",
        "upstream_status": status,
        "upstream_message": message,
    }
    assert error.message == (
        f"Provider 'fake' rejected the request (HTTP {status}): {message}"
    )


@pytest.mark.parametrize("wire", WIRES)
def test_the_api_key_never_appears_in_the_error_even_when_echoed(
    wire: Wire, upstream: Start
) -> None:
    server = upstream(wire.error(401, f"Incorrect API key provided: {KEY}."))

    error = failure_of(wire, server)

    assert wire.key_sent(server) == KEY
    assert error.details["upstream_message"] == (
        "Incorrect API key provided: [redacted]."
    )
    assert KEY not in str(error)
    assert KEY not in repr(error.details)
    # The SDK's exception quotes the body, so it is not chained as the cause.
    assert error.__cause__ is None
    assert error.__suppress_context__


@pytest.mark.parametrize("wire", WIRES)
def test_a_long_upstream_message_is_trimmed_to_one_short_line(
    wire: Wire, upstream: Start
) -> None:
    server = upstream(wire.error(400, "bad\n\n  request " + "x" * 1000))

    error = failure_of(wire, server)

    message = error.details["upstream_message"]
    assert message.startswith("bad request xxx")
    assert len(message) == 300
    assert "\n" not in message


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "7"}, 7.0),
        ({"retry-after-ms": "250", "retry-after": "7"}, 0.25),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "whenever"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_the_anthropic_sdk_order(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_seconds(headers) == seconds


def test_retry_after_may_be_an_http_date() -> None:
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)

    delay = retry_after_seconds({"retry-after": in_a_minute})

    assert delay is not None
    assert 55 < delay <= 61
