"""JSON log lines, and the request id in every line made while serving a request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.observability.logs import configure_logging, use_format
from app.worker import RedactQueryStrings
from tests.integration.conftest import FAKE_MODEL, Server


@pytest.fixture
def json_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Every record logged from now on, as the JSON line production would write."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    use_format(handler, "json")
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_lines_logged_on_the_loop_and_in_the_envelope_carry_the_request_id(
    make_server: Callable[..., Server],
    json_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    server = make_server(fail_first=1, fail_status=503)

    response = server.client.post(
        "/v1/completions",
        headers={**server.auth, "X-Request-ID": "trace-abc-123"},
        json={"provider": "fake", "model": FAKE_MODEL, "prompt": "hello"},
    )
    lines = json_lines()

    assert response.status_code == 503
    by_logger = {line["logger"]: line for line in lines}
    # The provider failed inside a coroutine the handler ran on the event loop;
    # the refusal was logged where the envelope is rendered.
    failure = by_logger["app.providers.failures"]
    refusal = by_logger["app.rest.envelope"]
    assert failure["request_id"] == refusal["request_id"] == "trace-abc-123"
    assert failure["level"] == "WARNING"
    assert failure["message"].startswith("provider fake call failed")
    assert set(failure) >= {"timestamp", "level", "logger", "pid", "message"}


def test_a_line_logged_in_a_handler_thread_carries_the_request_id(
    server: Server, json_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    # The login handler (a Flask thread) records the failed attempt in the audit
    # log, which logs a line too.
    response = server.client.post(
        "/v1/auth/login",
        headers={"X-Request-ID": "trace-def-456"},
        json={"username": "admin", "password": "not-the-password"},
    )
    logging.getLogger("app.auth.audit").info("outside any request")
    lines = json_lines()

    assert response.status_code == 401
    audit = [line for line in lines if line["logger"] == "app.auth.audit"]
    assert [line["request_id"] for line in audit] == ["trace-def-456", None]
    assert audit[-1]["message"] == "outside any request"


def test_query_strings_are_redacted_in_json_lines() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    use_format(handler, "json")
    access = logging.getLogger("tests.access")
    access.addFilter(RedactQueryStrings())
    access.addHandler(handler)
    access.propagate = False

    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        "/ws?token=eyJhbGciOiJIUzI1NiJ9.secret.part",
        "1.1",
        403,
    )
    line = json.loads(stream.getvalue())

    assert line["message"] == '127.0.0.1:5000 - "GET /ws?[redacted] HTTP/1.1" 403'
    assert "secret" not in stream.getvalue()


def test_configure_logging_leaves_a_configured_root_alone() -> None:
    root = logging.getLogger()
    handlers = list(root.handlers)  # the suite's log recorder at least

    configure_logging("json")

    assert root.handlers == handlers


def test_a_json_line_has_the_traceback_and_no_terminal_colours() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    use_format(handler, "json")
    uvicorn_like = logging.getLogger("tests.uvicorn_like")
    uvicorn_like.addHandler(handler)
    uvicorn_like.propagate = False

    try:
        raise ValueError("broken on purpose")
    except ValueError:
        uvicorn_like.exception(
            "Started %s", "server", extra={"color_message": "\x1b[1mStarted\x1b[0m"}
        )
    line = json.loads(stream.getvalue())

    assert line["message"] == "Started server"
    assert "color_message" not in line
    assert "ValueError: broken on purpose" in line["exc_info"]
    assert line["request_id"] is None
