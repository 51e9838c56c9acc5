"""Evaluator plugins are metrics named plugin:<name> in evaluations and benchmarks."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import FAKE_MODEL, Server
from tests.integration.test_datasets import mmlu_dev_files, upload
from tests.integration.test_plugins import plugin_named
from tests.support.plugins import requires_test_plugins

pytestmark = requires_test_plugins

TIME_LIMIT_S = 2.0
METRIC = "plugin:keyword-coverage"
METRIC_PARAMETERS = f"parameters.{METRIC}"
KEYWORDS = ["Paris", "capital", "Berlin", "France"]


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    """A server whose plugins may run for TIME_LIMIT_S seconds."""
    return make_server(settings_options={"plugin_time_limit_s": TIME_LIMIT_S})


@pytest.fixture
def mmlu_server(server: Server, datasets_dir: Path) -> Server:
    response = upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    assert response.status_code == 201
    return server


def coverage(text: str, keywords: list[str]) -> float:
    """Keyword coverage computed here, independently of the plugin."""
    words = set(re.findall(r"\w+", text.lower()))
    return sum(keyword.lower() in words for keyword in keywords) / len(keywords)


def evaluate(server: Server, metrics: list[str], **fields: Any) -> dict[str, Any]:
    body = {"input": "Capital of France?", "output": "Paris is the capital."}
    response = server.client.post(
        "/v1/evaluations",
        headers=server.auth,
        json=body | {"metrics": metrics} | fields,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_each_ready_evaluator_plugin_is_listed_as_a_metric(server: Server) -> None:
    response = server.client.get(
        "/v1/evaluators", params={"page_size": 100}, headers=server.auth
    )
    described = {item["name"]: item for item in response.json()["items"]}

    metric = described[METRIC]
    assert metric["kind"] == "deterministic"
    assert metric["range"] == {"min": 0.0, "max": 1.0}
    assert metric["needs"] == ["output"]
    assert sorted(metric["parameters"]) == ["case_sensitive", "keywords", "whole_words"]
    assert metric["plugin"] == {
        "id": plugin_named(server, "keyword-coverage")["id"],
        "name": "keyword-coverage",
        "version": "1.0.0",
    }
    assert described["exact_match"]["plugin"] is None
    # Plugins that failed to load, or are no evaluators, are no metrics.
    assert "plugin:test-bad-manifest" not in described
    assert "plugin:test-echo" not in described


def test_a_plugin_metric_is_the_plugins_score_of_the_output(server: Server) -> None:
    result = evaluate(
        server,
        [METRIC, "contains"],
        expected="Paris",
        parameters={METRIC: {"keywords": KEYWORDS}},
    )

    expected = coverage("Paris is the capital.", KEYWORDS)
    assert expected == 0.5
    assert result["metrics"] == {METRIC: expected, "contains": 1.0}
    assert result["score"] == pytest.approx((0.5 + 1.0) / 2)
    detail = result["details"][METRIC]
    assert detail["kind"] == "deterministic"
    assert detail["version"] == "1.0.0"
    assert detail["evidence"]["plugin_output"]["missing"] == ["Berlin", "France"]
    assert detail["evidence"]["execution_time_ms"] >= 0


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        (
            {},
            {
                "field": f"{METRIC_PARAMETERS}.keywords",
                "message": "'keywords' is a required property",
            },
        ),
        (
            {"keywords": "Paris"},
            {
                "field": f"{METRIC_PARAMETERS}.keywords",
                "message": "'Paris' is not of type 'array'",
            },
        ),
        (
            {"keywords": ["Paris"], "whole_words": "yes"},
            {
                "field": f"{METRIC_PARAMETERS}.whole_words",
                "message": "'yes' is not of type 'boolean'",
            },
        ),
    ],
)
@pytest.mark.parametrize("path", ["/v1/evaluations", "/v1/benchmarks"])
def test_parameters_the_plugins_schema_refuses_are_a_400_before_any_run(
    mmlu_server: Server, path: str, parameters: dict, error: dict
) -> None:
    # Every value of the run would be null: refused up front, as a regex pattern
    # that does not compile is. The case fields (text) are not parameters.
    body = {
        "/v1/evaluations": {"input": "q", "output": "Paris"},
        "/v1/benchmarks": {
            "name": "plugin",
            "providers": [{"provider": "fake", "model": FAKE_MODEL}],
            "dataset": "mmlu",
            "iterations": 1,
        },
    }[path] | {"metrics": [METRIC], "parameters": {METRIC: parameters}}

    response = mmlu_server.client.post(path, headers=mmlu_server.auth, json=body)

    assert response.status_code == 400, response.text
    refusal = response.json()["error"]
    assert refusal["message"] == (
        f"Parameters of metric '{METRIC}' are invalid: {error['field']}"
    )
    assert refusal["details"]["errors"] == [error]
    listed = mmlu_server.client.get(path, headers=mmlu_server.auth).json()
    assert listed["total"] == 0


def test_an_unknown_plugin_metric_parameter_is_refused(server: Server) -> None:
    response = server.client.post(
        "/v1/evaluations",
        headers=server.auth,
        json={
            "input": "q",
            "output": "a",
            "metrics": [METRIC],
            "parameters": {METRIC: {"keywords": ["a"], "text": "not the output"}},
        },
    )

    assert response.status_code == 400
    assert "has no parameter text" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("metric", "reason"),
    [
        ("plugin:test-raises", "raised ValueError: cannot score a text of 21"),
        ("plugin:test-sleeps", "ran longer than 2 s and was killed"),
        ("plugin:test-no-score", "returned no score between 0 and 1"),
        ("plugin:test-exits", "Plugin 'test-exits' process"),
    ],
)
def test_a_misbehaving_plugin_metric_is_null_with_the_reason(
    server: Server, metric: str, reason: str
) -> None:
    result = evaluate(server, [metric, "length"])

    assert result["metrics"] == {metric: None, "length": 21.0}
    assert reason in result["details"][metric]["reason"]
    assert server.client.get("/health").status_code == 200


def test_a_plugin_disabled_after_start_up_gives_null_not_an_error(
    server: Server,
) -> None:
    plugin_id = plugin_named(server, "keyword-coverage")["id"]
    response = server.client.patch(
        f"/v1/plugins/{plugin_id}", headers=server.auth, json={"enabled": False}
    )
    assert response.status_code == 200, response.text

    result = evaluate(server, [METRIC], parameters={METRIC: {"keywords": ["Paris"]}})

    assert result["metrics"] == {METRIC: None}
    assert result["details"][METRIC]["reason"] == "plugin disabled"
