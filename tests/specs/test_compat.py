"""The breaking-change checker, fed deliberately broken copies of our own spec."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.specs.compat import breaking_changes

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """openapi/openapi.yaml, parsed (each test edits its own deep copy)."""
    document = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def schemas(spec: dict[str, Any]) -> dict[str, Any]:
    """The document's component schemas, for editing."""
    result: dict[str, Any] = spec["components"]["schemas"]
    return result


def changed(spec: dict[str, Any], edit: Edit) -> list[str]:
    """What the checker reports for ``spec`` after ``edit``."""
    new = copy.deepcopy(spec)
    edit(new)
    return breaking_changes(spec, new)


def remove_progress(s: dict[str, Any]) -> None:
    del schemas(s)["Benchmark"]["properties"]["progress"]


def remove_cancel(s: dict[str, Any]) -> None:
    del s["paths"]["/v1/benchmarks/{id}/cancel"]


def require_new_field(s: dict[str, Any]) -> None:
    create = schemas(s)["BenchmarkCreate"]
    create["properties"]["team"] = {"type": "string"}
    create["required"].append("team")


def drop_dataset_format(s: dict[str, Any]) -> None:
    schemas(s)["DatasetUpload"]["properties"]["format"]["enum"].remove("jsonl")


def remove_request_field(s: dict[str, Any]) -> None:
    del schemas(s)["BenchmarkCreate"]["properties"]["seed"]


def narrow_temperature(s: dict[str, Any]) -> None:
    schemas(s)["TargetParameters"]["properties"]["temperature"]["type"] = "integer"


def lower_max_page_size(s: dict[str, Any]) -> None:
    s["components"]["parameters"]["PageSize"]["schema"]["maximum"] = 50


def add_status(s: dict[str, Any]) -> None:
    schemas(s)["BenchmarkStatus"]["enum"].append("paused")


def make_progress_nullable(s: dict[str, Any]) -> None:
    schemas(s)["Benchmark"]["properties"]["progress"]["nullable"] = True


def make_login_private(s: dict[str, Any]) -> None:
    del s["paths"]["/v1/auth/login"]["post"]["security"]


BREAKS: list[tuple[Edit, str]] = [
    (remove_progress, "GET /v1/benchmarks/{id} response 200: field progress removed"),
    (remove_cancel, "POST /v1/benchmarks/{id}/cancel: operation removed"),
    (require_new_field, "POST /v1/benchmarks request: field team is now required"),
    (drop_dataset_format, "POST /v1/datasets request.format: enum no longer accepts"),
    (remove_request_field, "POST /v1/benchmarks request: field seed removed"),
    (narrow_temperature, "request.providers[].parameters.temperature: type"),
    (lower_max_page_size, "GET /v1/datasets parameter page_size: maximum lowered"),
    (add_status, "GET /v1/benchmarks/{id} response 200.status: enum widened"),
    (make_progress_nullable, "GET /v1/benchmarks/{id} response 200.progress: type"),
    (make_login_private, "POST /v1/auth/login: now requires authentication"),
]


@pytest.mark.parametrize(
    ("edit", "expected"), BREAKS, ids=[e.__name__ for e, _ in BREAKS]
)
def test_a_breaking_change_is_caught(
    spec: dict[str, Any], edit: Edit, expected: str
) -> None:
    """Each deliberate break is reported, with where it happened."""
    found = changed(spec, edit)

    assert any(expected in line for line in found), "\n".join(found)


def add_things(s: dict[str, Any]) -> None:
    # An optional request field, a response field, an accepted enum value, a new
    # operation, a looser limit and new documentation: all compatible.
    schemas(s)["BenchmarkCreate"]["properties"]["notes"] = {"type": "string"}
    schemas(s)["Benchmark"]["properties"]["notes"] = {"type": "string"}
    schemas(s)["DatasetUpload"]["properties"]["format"]["enum"].append("csv")
    s["paths"]["/v1/benchmarks/{id}"]["delete"] = s["paths"]["/v1/benchmarks/{id}"][
        "get"
    ]
    s["components"]["parameters"]["PageSize"]["schema"]["maximum"] = 500
    schemas(s)["Benchmark"]["description"] = "A benchmark run."


def test_compatible_additions_are_not_reported(spec: dict[str, Any]) -> None:
    """Adding is not breaking: no false alarm on a typical feature change."""
    assert changed(spec, add_things) == []


def test_paths_outside_v1_are_not_checked(spec: dict[str, Any]) -> None:
    """Only /v1 is a versioned promise; /health is checked by the rules tests."""

    def remove_health(s: dict[str, Any]) -> None:
        del s["paths"]["/health"]

    assert changed(spec, remove_health) == []
