"""Check GraphQL inputs against the same OpenAPI schemas that REST requests meet.

The REST API refuses an out-of-range page size or a benchmark of 17 targets
because openapi/openapi.yaml says so, before any handler runs. A mutation or
argument that reaches the same service through GraphQL is held to those very
schemas, read from the document at run time, so both interfaces accept exactly
the same requests.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator

from app.errors import BadRequest
from app.rest.validation import (
    FORMAT_CHECKER,
    SchemaValidator,
    check_storable,
    describe_error,
)

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"
_REF_PREFIX = "#/components/"


def check_schema(schema_name: str, value: Any, what: str) -> None:
    """Raise BadRequest, naming every failing field, unless value meets the schema."""
    _check(f"schemas/{schema_name}", value, what)


def check_parameter(parameter_name: str, value: Any, field: str) -> None:
    """Raise BadRequest unless value meets a shared parameter's schema."""
    _check(f"parameters/{parameter_name}/schema", value, field, field)


def _check(pointer: str, value: Any, what: str, field: str | None = None) -> None:
    check_storable(value)
    errors = sorted(_validator(pointer).iter_errors(value), key=lambda e: list(e.path))
    if not errors:
        return
    described = [describe_error(error) for error in errors]
    if field is not None:
        described = [{**d, "field": field} for d in described]
    fields = ", ".join(str(d["field"] or what) for d in described)
    raise BadRequest(f"{what} is invalid: {fields}", details={"errors": described})


@cache
def _validator(pointer: str) -> Draft4Validator:
    schema = _resolved(_component(pointer))
    return SchemaValidator(schema, format_checker=FORMAT_CHECKER)


@cache
def _components() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as f:
        components: dict[str, Any] = yaml.safe_load(f)["components"]
    return components


def _component(pointer: str) -> Any:
    found: Any = _components()
    for part in pointer.split("/"):
        found = found[part]
    return found


def _resolved(schema: Any) -> Any:
    # The input schemas of our contract hold no cycles, so references can simply
    # be replaced by what they name.
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            return _resolved(_component(ref[len(_REF_PREFIX) :]))
        return {key: _resolved(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_resolved(item) for item in schema]
    return schema
