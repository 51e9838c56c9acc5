"""Check GraphQL inputs against the same OpenAPI schemas that REST requests meet.

The REST API refuses an out-of-range page size or a benchmark of 17 targets
because openapi/openapi.yaml says so, before any handler runs. A mutation or
argument that reaches the same service through GraphQL is held to those very
schemas, read from the document at run time, so both interfaces accept exactly
the same requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from graphql import (
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
)
from jsonschema import Draft4Validator

from app.errors import BadRequest
from app.rest.validation import (
    FORMAT_CHECKER,
    SchemaValidator,
    check_storable,
    describe_error,
    named_once,
)

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"
_REF_PREFIX = "#/components/"
# The page arguments of GraphQL's lists and the REST parameters that bound them.
PAGE_PARAMETERS: Mapping[str, str] = {"page": "Page", "pageSize": "PageSize"}


def check_schema(
    schema_name: str,
    value: Any,
    what: str,
    input_type: GraphQLInputType | None = None,
) -> None:
    """Raise BadRequest, naming every failing field, unless value meets the schema.

    Given the GraphQL input type that value came from, the fields are named as the
    caller named them (targets.0.parameters.maxTokens), not as the REST schema
    does (providers.0.parameters.max_tokens).
    """
    _check(f"schemas/{schema_name}", value, what, input_type=input_type)


def check_parameter(parameter_name: str, value: Any, field: str) -> None:
    """Raise BadRequest unless value meets a shared parameter's schema."""
    _check(f"parameters/{parameter_name}/schema", value, field, field)


def _check(
    pointer: str,
    value: Any,
    what: str,
    field: str | None = None,
    input_type: GraphQLInputType | None = None,
) -> None:
    check_storable(value)
    errors = _errors(pointer, value)
    if not errors:
        return
    described = [describe_error(error) for error in errors]
    if field is not None:
        described = [{**d, "field": field} for d in described]
    elif input_type is not None:
        described = [
            {**d, "field": d["field"] and graphql_path(input_type, d["field"])}
            for d in described
        ]
    fields = named_once(str(d["field"] or what) for d in described)
    raise BadRequest(f"{what} is invalid: {fields}", details={"errors": described})


def check_page_arguments(values: Mapping[str, int]) -> None:
    """Raise one BadRequest naming every page argument outside its range.

    ``values`` holds ``page`` and/or ``pageSize``, each bounded by the schema of
    the REST parameter it mirrors (PAGE_PARAMETERS): ``{"pageSize": 101}`` is
    refused with "Invalid arguments: pageSize must be from 1 to 100 (got 101)",
    and in ``details`` each argument with the message REST gives for its
    parameter ("101 is greater than the maximum of 100").
    """
    described: list[dict[str, Any]] = []
    ranges: list[str] = []
    for field, value in values.items():
        parameter_name = PAGE_PARAMETERS[field]
        errors = _errors(f"parameters/{parameter_name}/schema", value)
        if not errors:
            continue
        # The value is an integer: quoting it (as REST's message does) is safe.
        described.append({"field": field, "message": errors[0].message})
        schema = parameter_schema(parameter_name)
        ranges.append(
            f"{field} must be from {schema['minimum']} to {schema['maximum']} "
            f"(got {value})"
        )
    if described:
        raise BadRequest(
            f"Invalid arguments: {'; '.join(ranges)}", details={"errors": described}
        )


def parameter_schema(parameter_name: str) -> dict[str, Any]:
    """The schema of a shared parameter of the REST contract."""
    schema: dict[str, Any] = _component(f"parameters/{parameter_name}/schema")
    return schema


def graphql_path(input_type: GraphQLInputType, path: str) -> str:
    """A dotted path into a REST body, with the names of the GraphQL input it was.

    Each part is the input field whose ``out_name`` (the name the resolver sees,
    which is REST's) it is; list indexes stay. Past anything the input type does
    not have, the path is left as it is.
    """
    named: list[str] = []
    current: Any = input_type
    parts = path.split(".")
    for position, part in enumerate(parts):
        current = _unwrapped(current)
        if isinstance(current, GraphQLList) and part.isdigit():
            named.append(part)
            current = current.of_type
            continue
        field_name = _input_field_named(current, part)
        if field_name is None:
            return ".".join(named + parts[position:])
        named.append(field_name)
        current = current.fields[field_name].type
    return ".".join(named)


def graphql_names(
    input_type: GraphQLInputType, details: dict[str, Any]
) -> dict[str, Any]:
    """An error's details naming the input's fields as GraphQL does.

    Keys that are fields of the input (``providers``: which targets' providers
    are not configured) and the ``field`` of each of ``errors`` are renamed.
    """
    named = {
        _input_field_named(input_type, key) or key: value
        for key, value in details.items()
    }
    errors = named.get("errors")
    if isinstance(errors, list):
        named["errors"] = [
            {**error, "field": graphql_path(input_type, error["field"])}
            if isinstance(error, dict) and isinstance(error.get("field"), str)
            else error
            for error in errors
        ]
    return named


def _input_field_named(input_type: Any, out_name: str) -> str | None:
    named_type = _unwrapped(input_type)
    if not isinstance(named_type, GraphQLInputObjectType):
        return None
    for name, field in named_type.fields.items():
        if (field.out_name or name) == out_name:
            return str(name)
    return None


def _unwrapped(input_type: Any) -> Any:
    while isinstance(input_type, GraphQLNonNull):
        input_type = input_type.of_type
    return input_type


def _errors(pointer: str, value: Any) -> list[Any]:
    return sorted(_validator(pointer).iter_errors(value), key=lambda e: list(e.path))


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
