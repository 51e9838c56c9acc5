"""Proof that the contract runs can fail: the same checks against a broken server.

A contract test that never fails proves nothing, so this runs the very schema
objects and checks of test_schemathesis.py (REST) and
test_graphql_schemathesis.py (GraphQL) against a tiny HTTP server of its own on
127.0.0.1, which breaks the contract on purpose, and asserts that schemathesis
reports each break:

- REST: the server serves openapi/openapi.yaml itself (schemathesis loads it from
  there, as from any deployed API) and answers GET /health without the required
  ``status``: a response-schema failure (JsonSchemaError).
- GraphQL: the server executes the SDL of graphql/ with graphql-core, with two
  broken resolvers: ``health`` returns null for a non-null Boolean (schemathesis'
  own GraphQLSchemaViolation) and ``version`` raises, which leaves an error
  without an envelope code (server_failed of the GraphQL run).

Nothing in the product knows about this: the broken server is the test's own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import schemathesis
from graphql import build_schema, graphql_sync
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import CustomFailure, FailureGroup
from schemathesis.graphql.checks import GraphQLSchemaViolation
from schemathesis.openapi.checks import JsonSchemaError
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.contract import test_graphql_schemathesis as graphql_run
from tests.contract.test_schemathesis import SPEC

pytestmark = pytest.mark.contract

BROKEN_SCHEMA = build_schema(graphql_run.SDL_TEXT)


def _fail(*_args: Any) -> str:
    raise RuntimeError("a resolver that crashes")


# Root values: graphql-core calls a callable one as the field's resolver.
BROKEN_ROOT = {"health": None, "version": _fail}


class BrokenHandler(BaseHTTPRequestHandler):
    """The contract's paths, with wrong answers."""

    def log_message(self, *_args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        """The spec itself, and /health without its required ``status``."""
        if self.path == "/openapi.yaml":
            self._send(SPEC.read_bytes(), "application/yaml")
        elif self.path == "/health":
            health = {"version": "1.0.0", "timestamp": "2026-01-01T00:00:00Z"}
            self._send(json.dumps(health | {"uptime_seconds": 1}).encode())
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        """GraphQL over HTTP, executed against the SDL by the broken resolvers."""
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        result = graphql_sync(
            BROKEN_SCHEMA,
            request["query"],
            root_value=BROKEN_ROOT,
            variable_values=request.get("variables"),
        )
        self._send(json.dumps(result.formatted).encode())

    def _send(self, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def broken_url() -> Iterator[str]:
    """The broken server's base URL, on a free loopback port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BrokenHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def failures_of(case: schemathesis.Case, **kwargs: Any) -> list[Exception]:
    """What schemathesis reports for one call; none when the response conforms."""
    try:
        case.call_and_validate(**kwargs)
    except FailureGroup as group:
        return list(group.exceptions)
    return []


def test_rest_run_reports_a_health_response_without_status(broken_url: str) -> None:
    """The REST run's checks, on the spec the broken server serves, report it."""
    schema = schemathesis.openapi.from_url(f"{broken_url}/openapi.yaml")
    case = schema["/health"]["GET"].Case()

    failures = failures_of(case, base_url=broken_url)

    [failure] = failures
    assert isinstance(failure, JsonSchemaError), failure
    assert '"status" is a required property' in failure.message


@pytest.mark.parametrize(
    ("query", "reported"),
    [
        # Null in a non-null field: schemathesis' own check, and no envelope code.
        ("{ health }", {GraphQLSchemaViolation, CustomFailure}),
        ("{ version }", {CustomFailure}),
    ],
    ids=["null-in-non-null", "error-without-a-code"],
)
def test_graphql_run_reports_a_broken_resolver(
    broken_url: str, query: str, reported: set[type[Exception]]
) -> None:
    """The GraphQL run's schema and checks, on broken resolvers: each is reported."""
    field = query.strip("{ }")
    case = graphql_run.schema["Query"][field].Case(body=query)

    failures = failures_of(
        case,
        base_url=f"{broken_url}/graphql",
        excluded_checks=[not_a_server_error, positive_data_acceptance],
        additional_checks=[graphql_run.server_failed],
    )

    assert {type(f) for f in failures} == reported, failures
    custom = next(f for f in failures if isinstance(f, CustomFailure))
    assert "server_failed" in custom.title
    assert str(custom.message).startswith("no code:")
