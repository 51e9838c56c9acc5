"""Manifests are checked before a plugin may run, and inputs against its schema."""

from __future__ import annotations

from typing import Any

import pytest

from app.plugins.api import PluginType
from app.plugins.manifest import ManifestError, input_errors, parse_manifest, plugin_id

GOOD: dict[str, Any] = {
    "name": "keyword-coverage",
    "version": "1.0.0",
    "plugin_type": "evaluator",
    "description": "Scores keyword coverage.",
    "input_schema": {"type": "object", "required": ["text"]},
}


def test_a_good_manifest_is_parsed_with_its_type() -> None:
    manifest = parse_manifest(GOOD)

    assert manifest.name == "keyword-coverage"
    assert manifest.plugin_type is PluginType.EVALUATOR
    assert manifest.input_schema == {"type": "object", "required": ["text"]}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": ""}, "name must be a string of 1 to 200 characters"),
        ({"name": " padded "}, "name must be a string of 1 to 200 characters"),
        ({"version": 1}, "version must be a string of 1 to 50 characters"),
        ({"description": "x" * 2001}, "description must be a string of 1 to 2000"),
        ({"plugin_type": "widget"}, "plugin_type must be one of evaluator, provider"),
        ({"input_schema": []}, "input_schema must be a JSON Schema object"),
        ({"input_schema": {"type": 5}}, "input_schema is not a valid JSON Schema"),
    ],
)
def test_a_bad_manifest_is_refused_naming_the_problem(
    change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ManifestError, match=problem):
        parse_manifest({**GOOD, **change})


def test_a_manifest_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ManifestError, match="manifest is not an object"):
        parse_manifest(["name"])


def test_plugin_ids_are_stable_and_differ_by_package_and_entry_point() -> None:
    first = plugin_id("ltb-example-plugin", "keyword-coverage")

    assert first == plugin_id("ltb-example-plugin", "keyword-coverage")
    assert first == "3b07f4e6-9a35-59a9-8657-955a995d4b2d"
    assert first != plugin_id("other-package", "keyword-coverage")
    assert first != plugin_id("ltb-example-plugin", "other")


def test_input_errors_name_every_failing_field_under_input() -> None:
    schema = {
        "type": "object",
        "required": ["text", "keywords"],
        "properties": {
            "text": {"type": "string"},
            "keywords": {"type": "array", "minItems": 1},
            "options": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
    }

    errors = input_errors(schema, {"keywords": [], "options": {"n": "two"}})

    assert [error["field"] for error in errors] == [
        "input.text",
        "input.keywords",
        "input.options.n",
    ]
    assert errors[0]["message"] == "'text' is a required property"


def test_a_valid_input_has_no_errors() -> None:
    assert input_errors(GOOD["input_schema"], {"text": "hello"}) == []
