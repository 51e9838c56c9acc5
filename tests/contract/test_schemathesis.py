"""Contract fuzzing: every operation and every check of schemathesis, live server."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from hypothesis.errors import FlakyStrategyDefinition

from tests.contract.conftest import DATASET_NAME
from tests.integration.conftest import FAKE_MODEL

pytestmark = pytest.mark.contract

FAKE_PROVIDER = "fake"
# Deterministic metrics, valid for benchmarks and evaluations alike.
KNOWN_METRICS = ["exact_match", "contains", "token_f1", "accuracy"]
SPEC = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"
# Loaded from the hand-written file at import; the live server's address and token
# come from a fixture at call time (schemathesis.pytest.from_fixture is broken
# under pytest 9.2: it sets Node._nodeid, which pytest removed).
schema = schemathesis.openapi.from_path(
    SPEC,
    config=schemathesis.Config.from_dict(
        {
            "request-timeout": 30,
            "generation": {
                "max-examples": 100,
                # The server refuses NUL in every JSON string (PostgreSQL text
                # cannot hold it; see test_hostile_input.py), a rule no field's
                # schema repeats: valid data without NUL is what "valid" means here.
                "allow-x00": False,
            },
            "checks": {
                # Schemathesis' default list of refusals, plus 413: a negative
                # case may break a maxLength by more than the server's body limit
                # (MAX_BODY_BYTES), and 413 is then the documented refusal
                # (status_code_conformance still fails it where undocumented).
                "negative_data_rejection": {
                    "expected-statuses": [
                        "400",
                        "401",
                        "403",
                        "404",
                        "405",
                        "406",
                        "409",
                        "413",
                        "415",
                        "422",
                        "428",
                        "429",
                        "5xx",
                    ]
                }
            },
            "operations": [
                {
                    # The upload's content must parse in the chosen format, which a
                    # `binary` schema cannot say: random bytes are a documented 400.
                    # (Repairing them in a hook is no way out: schemathesis cannot
                    # re-judge an edited body holding binary, and calls it invalid.)
                    "include-operation-id": "create_dataset",
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [
                                "2xx",
                                "400",
                                "401",
                                "403",
                                "404",
                                "409",
                                "429",
                            ]
                        }
                    },
                },
                {
                    # 503 is the documented answer when the named provider is not
                    # configured (a negative case keeps its random provider name);
                    # any other 5xx is still a server error.
                    "include-operation-id": "create_completion",
                    "checks": {
                        "not_a_server_error": {
                            "expected-statuses": ["2xx", "3xx", "4xx", "503"]
                        }
                    },
                },
            ],
        }
    ),
)
# Operations reached in the stateful run only through a link of openapi.yaml from
# a created resource (a random id would be a 404).
LINK_TARGETS = {
    "DELETE /v1/auth/api-keys/{id}",
    "PATCH /v1/users/{id}",
    "GET /v1/benchmarks/{id}",
    "POST /v1/benchmarks/{id}/cancel",
    "GET /v1/benchmarks/{id}/results",
    "GET /v1/benchmarks/{id}/comparison",
    "GET /v1/benchmarks/{id}/export",
    "GET /v1/benchmarks/{id}/manifest",
    "GET /v1/evaluations/{id}",
}
CASES: Counter[str] = Counter()
STATEFUL: Counter[str] = Counter()
UNIQUE = itertools.count()


@schemathesis.hook
def before_call(
    context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]
) -> None:
    """Make generated requests name what exists here, as a real client's would."""
    # We authenticate with the bearer token; a generated X-API-Key is the other
    # scheme of an OR, so the server rightly ignores it, and schemathesis would
    # count a mangled one as a request that should have failed.
    case.headers.pop("X-API-Key", None)
    if case.meta is None or case.meta.generation.mode.is_negative:
        return  # a negative case stays as schemathesis meant to break it
    if isinstance(case.body, dict):
        _use_what_exists(case.method.upper(), case.path, case.body)


def _use_what_exists(method: str, path: str, body: dict[str, Any]) -> None:
    # A random provider, dataset or past expiry is schema-valid yet refers to
    # nothing (or to the past) here: every "positive" benchmark, completion and
    # expiring key would be refused, and the success paths and the create -> read
    # links would never be fuzzed.
    if path == "/v1/completions":
        _use_fake_target(body)
    elif (method, path) == ("POST", "/v1/evaluations"):
        _use_fake_target(body)
        _use_known_metrics(body)
    elif (method, path) == ("POST", "/v1/benchmarks"):
        for target in body.get("providers") or []:
            if isinstance(target, dict):
                _use_fake_target(target)
        if isinstance(body.get("dataset"), str):
            body["dataset"] = DATASET_NAME
        # The known metrics are not judged, and a judge that no metric uses is a
        # documented 400: the optional judge goes.
        body.pop("judge", None)
        _use_known_metrics(body)
    elif (method, path) == ("POST", "/v1/auth/api-keys") and isinstance(
        body.get("expires_at"), str
    ):
        later = datetime.now(UTC) + timedelta(days=1)
        body["expires_at"] = later.isoformat().replace("+00:00", "Z")
    elif (method, path) == ("POST", "/v1/users") and isinstance(
        body.get("username"), str
    ):
        # Hypothesis replays inputs; a replayed name would get 409 where it got 201,
        # so the links that follow would differ and the state machine be "flaky".
        body["username"] = f"{body['username'][:180]}-{next(UNIQUE)}"


def _use_known_metrics(body: dict[str, Any]) -> None:
    # Metric names are those of the registry (GET /v1/evaluators), which the
    # schema names no enum for: a random name is a documented 400. As many
    # names as were generated, up to the known ones (the list is uniqueItems).
    # Per-metric parameters name metrics too (a parameter for a metric that was
    # not requested is a 400), and their shape is each metric's own.
    metrics = body.get("metrics")
    if isinstance(metrics, list) and metrics:
        body["metrics"] = KNOWN_METRICS[: min(len(metrics), len(KNOWN_METRICS))]
        body.pop("parameters", None)


def _use_fake_target(target: dict[str, Any]) -> None:
    if isinstance(target.get("provider"), str):
        target["provider"] = FAKE_PROVIDER
    if isinstance(target.get("model"), str):
        target["model"] = FAKE_MODEL


@schema.parametrize()
def test_operation_conforms(
    case: schemathesis.Case, call_kwargs: dict[str, Any]
) -> None:
    """Each generated request gets a response the contract allows, by every check."""
    CASES[case.operation.label] += 1
    case.call_and_validate(**call_kwargs)


def test_stateful_links(call_kwargs: dict[str, Any]) -> None:
    """Sequences that follow the spec's links (create, then read/cancel/revoke)."""
    failures: list[str] = []

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            STATEFUL[case.operation.label] += 1
            return call_kwargs

        def validate_response(
            self, response: Any, case: schemathesis.Case, **kwargs: Any
        ) -> None:
            # Kept as it happens: hypothesis may fail to replay the sequence that
            # found it and then report only its FlakyStrategyDefinition.
            try:
                super().validate_response(response, case, **kwargs)
            except BaseException as exc:
                failures.append(_describe_failure(case, response, exc))
                raise

    # The live server keeps what earlier sequences did, so a replayed sequence can
    # get other answers (a benchmark cancelled, or finished, meanwhile: 200 then
    # 409) and so other links to follow. Hypothesis then stops the run with
    # FlakyStrategyDefinition. As schemathesis' own runner does, that is a failure
    # only if a check failed in the run; otherwise a fresh run takes up the budget.
    for attempt in (1, 2, 3):
        try:
            Machine.run(
                settings=settings(
                    max_examples=100,
                    stateful_step_count=10,
                    deadline=None,
                    # No example database: a run again must not start by replaying
                    # the sequence that could not be replayed.
                    database=None,
                )
            )
            break
        except FlakyStrategyDefinition:
            assert not failures, "\n\n".join(failures)
            print(f"\nstateful run {attempt} stopped: a sequence could not be replayed")
    assert not failures, "\n\n".join(failures)
    # However the runs ended, the spec's links were followed: each target was
    # called with what its source returned.
    assert set(STATEFUL) >= LINK_TARGETS, LINK_TARGETS - set(STATEFUL)


def _describe_failure(
    case: schemathesis.Case, response: Any, exc: BaseException
) -> str:
    return (
        f"{case.method} {case.formatted_path} -> {response.status_code}\n"
        f"request body: {case.body!r:.2000}\n"
        f"response: {response.text[:2000]}\n"
        f"{type(exc).__name__}: {exc}"
    )


def test_summary() -> None:
    """Print how many operations and cases the run tested (runs last in the module)."""
    print(
        f"\ncontract summary: {len(CASES)} operations, "
        f"{sum(CASES.values())} stateless cases, "
        f"{sum(STATEFUL.values())} stateful calls over {len(STATEFUL)} operations"
    )
    assert CASES
