"""The REST contract itself: valid OpenAPI, valid examples, house rules, no breaks.

These read openapi/openapi.yaml only; no server runs. ``tox -e specs`` installs the
validators; elsewhere (the default ``py`` env) the tests that need them skip.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.specs.compat import breaking_changes, operations, pointer, resolve

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO / "openapi" / "openapi.yaml"
# The published /v1 contract. A breaking change needs a new version (/v2), not an
# edit here; additions are fine and the baseline may then be refreshed to match.
BASELINE_PATH = REPO / "openapi" / "baseline" / "v1.yaml"
# The only operations anyone may call without a credential.
PUBLIC_OPERATIONS = {
    "get_health",
    # Probes and scrapers: unauthenticated, as they expect (METRICS_TOKEN can make
    # /metrics ask for a token of its own, checked by the handler).
    "get_readiness",
    "get_metrics",
    "login",
    # The GraphiQL page and its files hold no data; a browser opens them without
    # a credential (queries from it carry one).
    "graphql_playground",
    "graphql_playground_asset",
    # The results page takes no API credential: its handlers check the page's
    # session cookie themselves (and send a browser without one to the form).
    "benchmark_page",
    "benchmark_page_fragment",
    "benchmark_page_login_form",
    "benchmark_page_login",
    "benchmark_page_logout",
    "page_asset",
}
ERROR_ENVELOPE = "#/components/schemas/ErrorEnvelope"


def load(path: Path) -> dict[str, Any]:
    """A YAML document as a dict."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path} is not a mapping"
    return document


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """openapi/openapi.yaml, parsed."""
    return load(SPEC_PATH)


# --- openapi-spec-validator -------------------------------------------------------


@pytest.mark.parametrize("path", [SPEC_PATH, BASELINE_PATH], ids=lambda p: p.name)
def test_document_is_valid_openapi_3_0(path: Path) -> None:
    """openapi-spec-validator finds no error (it raises on the first one)."""
    validator = pytest.importorskip(
        "openapi_spec_validator", reason="installed by tox -e specs"
    )
    document = load(path)
    assert document["openapi"].startswith("3.0.")
    validator.validate(document, base_uri=path.as_uri())


# --- examples ---------------------------------------------------------------------


Found = Iterator[tuple[str, Any, Any]]


def examples(spec: dict[str, Any]) -> Found:
    """(where, example, schema) for every ``example``/``examples`` in the document."""
    components = spec.get("components", {})
    for name, schema in components.get("schemas", {}).items():
        yield from _from_schema(f"schemas.{name}", schema)
    for name, parameter in components.get("parameters", {}).items():
        yield from _from_holder(spec, f"parameters.{name}", parameter)
    for name, response in components.get("responses", {}).items():
        yield from _from_response(spec, f"responses.{name}", response)
    # Inline definitions in operations; a $ref's target is walked in components.
    for path, method, operation in operations(spec):
        where = f"{method.upper()} {path}"
        for parameter in operation.get("parameters", []):
            if "$ref" not in parameter:
                yield from _from_holder(spec, f"{where} {parameter['name']}", parameter)
        body = operation.get("requestBody", {})
        if "$ref" in body:
            body = pointer(spec, body["$ref"])
        for media, content in body.get("content", {}).items():
            yield from _from_holder(spec, f"{where} request {media}", content)
        for status, response in operation.get("responses", {}).items():
            if "$ref" not in response:
                yield from _from_response(spec, f"{where} {status}", response)


def _from_holder(spec: dict[str, Any], where: str, holder: Any) -> Found:
    # A media type, parameter or header: its examples are of its schema.
    if "$ref" in holder:
        holder = pointer(spec, holder["$ref"])
    schema = holder.get("schema")
    if schema is None:
        return
    if "example" in holder:
        yield where, holder["example"], schema
    for name, example in holder.get("examples", {}).items():
        yield f"{where} examples.{name}", resolve(spec, example)["value"], schema
    yield from _from_schema(f"{where} schema", schema)


def _from_schema(where: str, schema: Any) -> Found:
    if not isinstance(schema, dict) or "$ref" in schema:
        return  # a $ref's target is walked where it is defined
    if "example" in schema:
        yield where, schema["example"], schema
    for name, prop in schema.get("properties", {}).items():
        yield from _from_schema(f"{where}.{name}", prop)
    for key in ("items", "additionalProperties", "not"):
        yield from _from_schema(f"{where}.{key}", schema.get(key))
    for key in ("allOf", "anyOf", "oneOf"):
        for index, part in enumerate(schema.get(key, [])):
            yield from _from_schema(f"{where}.{key}[{index}]", part)


def _from_response(spec: dict[str, Any], where: str, response: Any) -> Found:
    if "$ref" in response:
        response = pointer(spec, response["$ref"])
    for media, content in response.get("content", {}).items():
        yield from _from_holder(spec, f"{where} {media}", content)
    for name, header in response.get("headers", {}).items():
        yield from _from_holder(spec, f"{where} header {name}", header)


def example_errors(spec: dict[str, Any]) -> tuple[int, list[str]]:
    """How many examples there are, and every way one breaks its schema."""
    # openapi-schema-validator (a dependency of openapi-spec-validator) extends
    # jsonschema with OpenAPI 3.0 semantics, `nullable` and its formats included.
    oas = pytest.importorskip(
        "openapi_schema_validator", reason="installed by tox -e specs"
    )
    found = list(examples(spec))
    errors: list[str] = []
    for where, example, schema in found:
        validator = oas.OAS30Validator(
            resolve(spec, schema), format_checker=oas.oas30_format_checker
        )
        for error in validator.iter_errors(example):
            at = "/".join(map(str, error.absolute_path))
            errors.append(f"{where}: {at or '(root)'}: {error.message}")
    return len(found), errors


def test_every_example_matches_its_schema(spec: dict[str, Any]) -> None:
    """Examples are documentation people copy: each must be valid."""
    count, errors = example_errors(spec)

    assert count >= 5, f"only {count} examples found: the walk is broken"
    assert errors == [], "\n".join(errors)


def test_a_wrong_example_is_caught(spec: dict[str, Any]) -> None:
    """The example check itself: a bad enum value and a missing field are reported."""
    broken = copy.deepcopy(spec)
    envelope = broken["components"]["schemas"]["ErrorEnvelope"]["example"]
    envelope["error"]["code"] = "TEAPOT"
    del envelope["request_id"]

    _, errors = example_errors(broken)

    assert any("error/code: 'TEAPOT' is not one of" in e for e in errors), errors
    assert any("'request_id' is a required property" in e for e in errors), errors


def test_nullable_examples_are_accepted() -> None:
    """``nullable: true`` admits null, per OpenAPI 3.0 (plain jsonschema would not)."""
    schema = {
        "type": "object",
        "required": ["results"],
        "properties": {"results": {"type": "object", "nullable": True}},
        "example": {"results": None},
    }
    document = {"openapi": "3.0.3", "components": {"schemas": {"Thing": schema}}}

    assert example_errors(document) == (1, [])


# --- house rules for every operation ------------------------------------------------


def all_operations(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(\"METHOD /path\", operation) for every operation in the document."""
    return [(f"{m.upper()} {p}", op) for p, m, op in operations(spec)]


def test_every_operation_has_a_unique_id_and_a_summary(spec: dict[str, Any]) -> None:
    """Code generators name methods after operationId; docs list summaries."""
    ids = [op.get("operationId") for _, op in all_operations(spec)]
    missing = [w for w, op in all_operations(spec) if not op.get("operationId")]
    no_summary = [w for w, op in all_operations(spec) if not op.get("summary")]

    assert missing == []
    assert len(ids) == len(set(ids)), f"duplicate operationId in {ids}"
    assert no_summary == []


def test_every_error_response_is_the_error_envelope(spec: dict[str, Any]) -> None:
    """Each 4xx/5xx has content whose schema is ErrorEnvelope; 500 is everywhere.

    The one exception: a page for a browser (tag ``pages``) may answer an error
    as a page of its own (HTML), e.g. the results page of an unknown benchmark.
    """
    problems: list[str] = []
    for where, op in all_operations(spec):
        errors = {s: r for s, r in op["responses"].items() if str(s)[0] in "45"}
        if "500" not in errors:
            problems.append(f"{where}: no 500 response")
        for status, response in errors.items():
            if "$ref" in response:
                response = pointer(spec, response["$ref"])
            content = response.get("content", {})
            if not content:
                problems.append(f"{where} {status}: no content")
            for media, body in content.items():
                if media == "text/html" and "pages" in op.get("tags", []):
                    if body.get("schema") != {"type": "string"}:
                        problems.append(f"{where} {status} {media}: not a page")
                elif body.get("schema") != {"$ref": ERROR_ENVELOPE}:
                    problems.append(f"{where} {status} {media}: not the ErrorEnvelope")

    assert problems == [], "\n".join(problems)


def test_only_health_and_login_are_public(spec: dict[str, Any]) -> None:
    """Every other operation requires a credential, and declares its 401."""
    assert spec.get("security"), "the document must require a credential by default"
    public, unauthorized_missing = set(), []
    for where, op in all_operations(spec):
        requirements = op.get("security", spec["security"])
        if not requirements or {} in requirements:
            public.add(op["operationId"])
        elif "401" not in op["responses"]:
            unauthorized_missing.append(where)

    assert public == PUBLIC_OPERATIONS
    assert unauthorized_missing == []


# --- no breaking change to /v1 ------------------------------------------------------


def test_no_breaking_change_since_the_v1_baseline(spec: dict[str, Any]) -> None:
    """openapi.yaml only adds to what openapi/baseline/v1.yaml promised."""
    baseline = load(BASELINE_PATH)

    assert breaking_changes(baseline, spec) == []
