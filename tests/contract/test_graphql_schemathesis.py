"""Contract fuzzing of /graphql: schemathesis in GraphQL mode against a live server.

The schema is the hand-written SDL (graphql/*.graphql), not the server's own
introspection, so a server that drifted from its document is judged by the
document. Every root query and mutation field is an operation; each case is a
generated document sent as the admin (the same live server as the REST run).

Two of schemathesis' checks are replaced by one that knows this server's errors:

- ``positive_data_acceptance``: the SDL cannot say what openapi.yaml says about
  the same inputs (``pageSize`` at most 100, an id's pattern, a provider that
  exists), and the server holds GraphQL arguments to the OpenAPI schemas
  (app/graphql/contract.py). A refusal of such input is the contract working.
- ``not_a_server_error``: schemathesis knows Apollo's and graphql-java's error
  labels; this server labels every error with the REST envelope's codes
  (``extensions.code``), so it would count NOT_FOUND for a random id as a server
  failure. ``server_failed`` fails on what really is one: an HTTP 5xx, an error
  without a code, or INTERNAL_ERROR (what app/graphql/errors.py makes of any
  unexpected exception).

Everything else (the response is a GraphQL JSON object; no null in a non-null
field) is schemathesis' own.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.live_server import LiveServer

pytestmark = pytest.mark.contract

SDL = Path(__file__).resolve().parents[2] / "graphql"
# Documents per root field: 14 fields, about 1,600 cases in under a minute on two
# cores (400 per field, 4,200 cases, found nothing more in two minutes).
MAX_EXAMPLES = 150
CODES = frozenset(
    {
        "BAD_REQUEST",
        "UNAUTHORIZED",
        "FORBIDDEN",
        "NOT_FOUND",
        "CONFLICT",
        "RATE_LIMIT_EXCEEDED",
        "SERVICE_UNAVAILABLE",
    }
)
SDL_TEXT = "\n".join(
    path.read_text(encoding="utf-8") for path in sorted(SDL.glob("*.graphql"))
)
schema = schemathesis.graphql.from_file(
    SDL_TEXT,
    config=schemathesis.Config.from_dict(
        {"request-timeout": 30, "generation": {"max-examples": MAX_EXAMPLES}}
    ),
)
CASES: Counter[str] = Counter()
STARTED = time.monotonic()


def server_failed(
    _ctx: schemathesis.CheckContext,
    response: schemathesis.Response,
    _case: schemathesis.Case,
) -> bool | None:
    """Fail on a 5xx, or on an error that carries no code of the error envelope."""
    assert response.status_code < 500, f"server error {response.status_code}"
    payload = response.json()
    for error in payload.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code in CODES, f"{code or 'no code'}: {error.get('message')}"
    return True


@schema.parametrize()
def test_graphql_operation_conforms(
    case: schemathesis.Case, contract_server: LiveServer
) -> None:
    """Each generated query or mutation gets a response its SDL allows."""
    CASES[case.operation.label] += 1
    case.call_and_validate(
        base_url=f"{contract_server.base_url}/graphql",
        headers={"Authorization": contract_server.client.headers["Authorization"]},
        excluded_checks=[not_a_server_error, positive_data_acceptance],
        additional_checks=[server_failed],
    )


def test_graphql_summary() -> None:
    """Print how many operations and cases the GraphQL run tested (runs last)."""
    print(
        f"\ngraphql contract summary: {len(CASES)} operations, "
        f"{sum(CASES.values())} cases, {time.monotonic() - STARTED:.0f} s"
    )
    assert CASES
