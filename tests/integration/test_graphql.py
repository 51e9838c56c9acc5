"""GraphQL at /graphql: every query and mutation agrees with the REST API."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from graphql import get_introspection_query

from app import __version__
from tests.integration.conftest import FAKE_MODEL, Server
from tests.integration.test_benchmark_metrics import (
    UNUSED_JUDGE,
    UNUSED_JUDGE_DETAILS,
)
from tests.integration.test_benchmarks import start_benchmark, wait_for
from tests.integration.test_datasets import mmlu_dev_files, upload
from tests.integration.test_evaluations import judge_reply

BENCHMARK_FIELDS = """
  id name status progress totalCells completedCells error
  iterations repeats concurrency seed metrics createdAt startedAt finishedAt
  judge { provider model }
  dataset { id name version contentHash }
  targets { provider model parameters { temperature maxTokens } }
  results {
    targetIndex provider model parameters { temperature maxTokens }
    items errors correct accuracy promptTokens completionTokens costUsd
    latencyMs { p50 p95 p99 mean } metrics { name mean }
    judgePromptTokens judgeCompletionTokens judgeCostUsd
  }
"""


def graphql(
    server: Server,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST one operation; the HTTP side must succeed whatever GraphQL says."""
    response = server.client.post(
        "/graphql",
        headers=server.auth if headers is None else headers,
        json={"query": query, "variables": variables},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def data_of(server: Server, query: str, **variables: Any) -> dict[str, Any]:
    """The data of an operation that must have no error."""
    body = graphql(server, query, variables or None)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]
    return result


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def camel(value: Any) -> Any:
    """REST's snake_case JSON with GraphQL's camelCase keys."""
    if isinstance(value, dict):
        return {
            re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): camel(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [camel(item) for item in value]
    return value


def as_graphql_benchmark(rest: dict[str, Any]) -> dict[str, Any]:
    """What BENCHMARK_FIELDS selects of a benchmark, computed from REST's view."""
    view = camel(rest)
    view["id"] = view.pop("benchmarkId")
    # Per-metric parameters are free-form JSON, which the GraphQL schema has no
    # scalar for: REST shows them, GraphQL does not.
    view.pop("parameters")
    view["status"] = view["status"].upper()
    view["targets"] = [
        {**t, "parameters": _parameters(t.get("parameters"))}
        for t in view.pop("providers")
    ]
    results = view["results"]
    view["results"] = (
        None
        if results is None
        else [
            # The fields BENCHMARK_FIELDS selects (results have more: intervals...).
            {k: v for k, v in r.items() if k in RESULT_FIELDS}
            | {
                "parameters": _parameters(r["parameters"]),
                "latencyMs": {k: r["latencyMs"][k] for k in LATENCY_FIELDS},
                "metrics": [{"name": k, "mean": v} for k, v in r["metrics"].items()],
            }
            for r in results["targets"]
        ]
    )
    return view


RESULT_FIELDS = re.findall(r"\w+", BENCHMARK_FIELDS.split("results {")[1])
LATENCY_FIELDS = ("p50", "p95", "p99", "mean")


def _parameters(parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    if parameters is None:
        return None
    return {"temperature": None, "maxTokens": None} | parameters


@pytest.fixture
def mmlu_server(server: Server, datasets_dir: Path) -> Server:
    response = upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    assert response.status_code == 201, response.text
    return server


def role_headers(server: Server, role: str) -> dict[str, str]:
    runtime = server.client.app.app.extensions["ltb"]
    runtime.auth.create_user(f"gql-{role}", f"gql-{role}-password", role)
    return server.login(f"gql-{role}", f"gql-{role}-password")


# --- the original interface ---------------------------------------------------------


def test_version_and_health_say_what_get_health_says(server: Server) -> None:
    rest = server.client.get("/health").json()

    data = data_of(server, "{ version health }")

    assert data == {"version": rest["version"], "health": True}
    assert data["version"] == __version__


def test_plugins_and_plugin_are_those_of_get_v1_plugins(server: Server) -> None:
    rest = server.client.get(
        "/v1/plugins", params={"page_size": 100}, headers=server.auth
    ).json()
    data = data_of(server, "{ plugins { id name version pluginType status } }")

    expected = [
        {
            "id": p["id"],
            "name": p["name"],
            "version": p["version"],
            "pluginType": p["plugin_type"] or "unknown",
            "status": p["status"],
        }
        for p in rest["items"]
    ]
    assert data["plugins"] == expected
    assert len(expected) == rest["total"]
    for plugin in expected[:3]:
        one = data_of(
            server,
            "query($id: String!) { plugin(id: $id) { id name pluginType status } }",
            id=plugin["id"],
        )
        assert one["plugin"] == {
            k: plugin[k] for k in ("id", "name", "pluginType", "status")
        }


def test_create_evaluation_scores_and_stores_as_post_v1_evaluations_does(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(reply=judge_reply)
    data = data_of(
        server,
        """mutation($input: EvaluationInput!) {
          createEvaluation(input: $input) { score evaluationId createdAt }
        }""",
        input={
            "provider": "fake",
            "model": FAKE_MODEL,
            "input": "What is 2+2?",
            "output": "The answer is 4.",
            "expected": "4",
            "metrics": ["faithfulness", "relevance", "coherence", "contains"],
        },
    )["createEvaluation"]

    stored = server.client.get(
        f"/v1/evaluations/{data['evaluationId']}", headers=server.auth
    ).json()
    # 1 of 2 claims supported, relevance 4 -> 0.75, coherence 3 -> 0.5, "4" found.
    assert stored["metrics"] == {
        "faithfulness": 0.5,
        "relevance": 0.75,
        "coherence": 0.5,
        "contains": 1.0,
    }
    assert data["score"] == pytest.approx((0.5 + 0.75 + 0.5 + 1.0) / 4)
    assert data["score"] == stored["score"]
    assert data["createdAt"] == stored["created_at"]


def test_create_evaluation_refuses_what_rest_refuses(server: Server) -> None:
    body = graphql(
        server,
        """mutation {
          createEvaluation(input: {provider: "fake", model: "m", input: "2+2?",
                                   output: "4", metrics: ["no-such-metric"]}) {
            score evaluationId createdAt
          }
        }""",
    )

    assert body["data"] is None
    assert error_codes(body) == ["BAD_REQUEST"]
    assert body["errors"][0]["path"] == ["createEvaluation"]
    assert "no-such-metric" in body["errors"][0]["message"]


def test_create_completion_returns_what_post_v1_completions_returns(
    server: Server,
) -> None:
    rest = server.client.post(
        "/v1/completions",
        headers=server.auth,
        json={"provider": "fake", "model": FAKE_MODEL, "prompt": "What is 6 x 7?"},
    ).json()

    response = server.client.post(
        "/graphql",
        headers={**server.auth, "X-Request-ID": "gql-completion-1"},
        json={
            "query": """mutation($input: CompletionInput!) {
              createCompletion(input: $input) { text model requestId createdAt }
            }""",
            "variables": {
                "input": {
                    "provider": "fake",
                    "model": FAKE_MODEL,
                    "prompt": "What is 6 x 7?",
                    "maxTokens": 20,
                    "temperature": 0.0,
                }
            },
        },
    )
    completion = response.json()["data"]["createCompletion"]

    assert completion["text"] == rest["text"] == "Answer: 42"
    assert completion["model"] == rest["model"]
    assert completion["requestId"] == "gql-completion-1"
    assert completion["createdAt"].endswith("Z")
    assert server.provider.prompts[-1] == "What is 6 x 7?"


@pytest.mark.parametrize(
    ("input_fields", "field"),
    [
        ('provider: "nobody", model: "m", prompt: "hi"', None),
        ('provider: "fake", model: "m", prompt: ""', "prompt"),
        ('provider: "fake", model: "m", prompt: "hi", temperature: 3.5', "temperature"),
        ('provider: "fake", model: "m", prompt: "hi", maxTokens: 0', "maxTokens"),
    ],
)
def test_create_completion_refuses_what_rest_refuses(
    server: Server, input_fields: str, field: str | None
) -> None:
    body = graphql(
        server, f"mutation {{ createCompletion(input: {{{input_fields}}}) {{ text }} }}"
    )

    assert error_codes(body) == ["BAD_REQUEST"]
    if field is not None:
        details = body["errors"][0]["extensions"]["details"]["errors"]
        assert [d["field"] for d in details] == [field]
        assert body["errors"][0]["message"] == f"input is invalid: {field}"
    assert server.provider.requests == 0


# --- beyond the original ------------------------------------------------------------


def test_me_names_the_caller_of_a_jwt_and_of_an_api_key(server: Server) -> None:
    key = server.client.post(
        "/v1/auth/api-keys",
        headers=server.auth,
        json={"name": "gql", "role": "viewer"},
    ).json()

    by_jwt = data_of(server, "{ me { username role apiKeyId userId } }")["me"]
    by_key = graphql(
        server, "{ me { username role apiKeyId } }", headers={"X-API-Key": key["key"]}
    )["data"]["me"]

    assert by_jwt["username"] == "admin"
    assert by_jwt["role"] == "ADMIN"
    assert by_jwt["apiKeyId"] is None
    assert by_key == {"username": "admin", "role": "VIEWER", "apiKeyId": key["id"]}


def test_providers_are_those_of_get_v1_providers(server: Server) -> None:
    rest = server.client.get("/v1/providers?page_size=100", headers=server.auth).json()

    data = data_of(
        server,
        """{ providers { name kind baseUrl configured
              models { name inputPerMtok outputPerMtok cachedInputPerMtok } } }""",
    )

    assert data["providers"] == camel(rest["items"])


def test_datasets_and_dataset_are_those_of_rest(mmlu_server: Server) -> None:
    rest_page = mmlu_server.client.get(
        "/v1/datasets?page=1&page_size=5", headers=mmlu_server.auth
    ).json()
    rest_one = rest_page["items"][0]

    data = data_of(
        mmlu_server,
        """query($id: ID!) {
          datasets(page: 1, pageSize: 5) {
            total page pageSize totalPages
            items { id name version format contentHash itemCount subjects createdAt }
          }
          byId: dataset(id: $id) { id itemCount subjects contentHash }
          byName: dataset(id: "mmlu") { id }
        }""",
        id=rest_one["id"],
    )

    assert data["datasets"] == camel(rest_page)
    assert data["byId"] == {
        "id": rest_one["id"],
        "itemCount": 285,
        "subjects": rest_one["subjects"],
        "contentHash": rest_one["content_hash"],
    }
    assert data["byName"] == {"id": rest_one["id"]}


def test_an_unknown_dataset_benchmark_or_plugin_is_null_with_not_found(
    server: Server,
) -> None:
    rest = server.client.get("/v1/plugins/no-such-plugin", headers=server.auth)
    body = graphql(
        server,
        """{ dataset(id: "nope") { id } benchmark(id: "nope") { id }
             plugin(id: "no-such-plugin") { id } }""",
    )

    assert body["data"] == {"dataset": None, "benchmark": None, "plugin": None}
    assert error_codes(body) == ["NOT_FOUND"] * 3
    errors = {e["path"][0]: e for e in body["errors"]}
    assert sorted(errors) == ["benchmark", "dataset", "plugin"]
    assert rest.status_code == 404
    assert errors["plugin"]["message"] == "Plugin 'no-such-plugin' not found"
    assert errors["plugin"]["message"] == rest.json()["error"]["message"]


def test_a_plugin_id_is_held_to_the_rest_bounds(server: Server) -> None:
    body = graphql(
        server, "query($id: String!) { plugin(id: $id) { id } }", {"id": "x" * 65}
    )

    assert body["data"] == {"plugin": None}
    assert error_codes(body) == ["BAD_REQUEST"]
    fields = [d["field"] for d in body["errors"][0]["extensions"]["details"]["errors"]]
    assert fields == ["id"]


def test_a_benchmark_and_its_per_target_results_are_those_of_rest(
    mmlu_server: Server,
) -> None:
    created = start_benchmark(mmlu_server)
    final = wait_for(mmlu_server, created["benchmark_id"])[-1]
    assert final["status"] == "completed"

    data = data_of(
        mmlu_server,
        f"query($id: ID!) {{ benchmark(id: $id) {{ {BENCHMARK_FIELDS} }} }}",
        id=created["benchmark_id"],
    )

    assert data["benchmark"] == as_graphql_benchmark(final)
    assert len(data["benchmark"]["results"]) == 2
    assert data["benchmark"]["results"][1]["parameters"]["maxTokens"] == 4
    assert data["benchmark"]["results"][0]["latencyMs"]["p50"] is not None


def test_benchmarks_pages_with_totals_are_those_of_rest(mmlu_server: Server) -> None:
    ids = [start_benchmark(mmlu_server, iterations=3)["benchmark_id"] for _ in range(3)]
    for benchmark_id in ids:
        wait_for(mmlu_server, benchmark_id)
    rest = mmlu_server.client.get(
        "/v1/benchmarks?page=2&page_size=2&status=completed", headers=mmlu_server.auth
    ).json()

    data = data_of(
        mmlu_server,
        """{ benchmarks(page: 2, pageSize: 2, status: COMPLETED) {
              total page pageSize totalPages items { id status }
            }
            none: benchmarks(status: FAILED) { total totalPages items { id } } }""",
    )

    assert data["benchmarks"] == {
        "total": rest["total"],
        "page": 2,
        "pageSize": 2,
        "totalPages": rest["total_pages"],
        "items": [
            {"id": b["benchmark_id"], "status": "COMPLETED"} for b in rest["items"]
        ],
    }
    assert (data["benchmarks"]["total"], data["benchmarks"]["totalPages"]) == (3, 2)
    assert data["none"] == {"total": 0, "totalPages": 0, "items": []}


def test_page_arguments_are_held_to_the_rest_bounds(server: Server) -> None:
    rest = server.client.get(
        "/v1/benchmarks?page=0&page_size=101", headers=server.auth
    ).json()
    body = graphql(server, "{ benchmarks(page: 0, pageSize: 101) { total } }")

    assert error_codes(body) == ["BAD_REQUEST"]
    assert body["errors"][0]["message"] == (
        "Invalid arguments: page must be from 1 to 1000000 (got 0); "
        "pageSize must be from 1 to 100 (got 101)"
    )
    # Each argument with REST's message for its parameter.
    assert body["errors"][0]["extensions"]["details"] == {
        "errors": [
            {"field": "page", "message": "0 is less than the minimum of 1"},
            {"field": "pageSize", "message": "101 is greater than the maximum of 100"},
        ]
    }
    assert [e["message"] for e in rest["error"]["details"]["errors"]] == [
        e["message"] for e in body["errors"][0]["extensions"]["details"]["errors"]
    ]


def create_benchmark(server: Server, variables: dict[str, Any]) -> dict[str, Any]:
    """The whole answer (data and errors) to createBenchmark(input: $input)."""
    return graphql(
        server,
        "mutation($input: BenchmarkInput!) { createBenchmark(input: $input) { id } }",
        variables,
    )


DATASET_FIELDS = "id name version format contentHash itemCount subjects createdAt"


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (f"{{ datasets(pageSize: 1000) {{ items {{ {DATASET_FIELDS} }} }} }}", None),
        (
            f"""query($size: Int!) {{
                  datasets(pageSize: $size) {{ items {{ {DATASET_FIELDS} }} }}
                }}""",
            {"size": 1000},
        ),
        (
            f"""query($size: Int = 1000) {{
                  datasets(pageSize: $size) {{ items {{ {DATASET_FIELDS} }} }}
                }}""",
            None,
        ),
    ],
    ids=["literal", "variable", "variable-default"],
)
def test_a_page_size_above_the_maximum_is_named_with_its_range_not_as_a_cost(
    server: Server, query: str, variables: dict[str, Any] | None
) -> None:
    # 1000 items of 8 fields would cost more than GRAPHQL_MAX_COST (5000): the
    # page size is what is wrong, and the only thing said.
    body = graphql(server, query, variables)

    assert body == {
        "errors": [
            {
                "message": "Invalid arguments: pageSize must be from 1 to 100 "
                "(got 1000)",
                "locations": body["errors"][0]["locations"],
                "extensions": {
                    "code": "BAD_REQUEST",
                    "details": {
                        "errors": [
                            {
                                "field": "pageSize",
                                "message": "1000 is greater than the maximum of 100",
                            }
                        ]
                    },
                },
            }
        ]
    }


def test_a_page_size_above_the_maximum_is_costed_at_the_maximum(
    server: Server,
) -> None:
    # Too costly even at 100 per page: both are said, the cost at the largest page.
    body = graphql(
        server, f"{{ benchmarks(pageSize: 1000) {{ items {{ {EXPENSIVE} }} }} }}"
    )

    assert error_codes(body) == ["BAD_REQUEST", "BAD_REQUEST"]
    assert [e["message"] for e in body["errors"]] == [
        "Invalid arguments: pageSize must be from 1 to 100 (got 1000)",
        "Operation 'anonymous' costs 11401; the limit is 5000",
    ]


def test_null_page_arguments_are_the_defaults(mmlu_server: Server) -> None:
    data = data_of(
        mmlu_server,
        """{ datasets(page: null, pageSize: null) { page pageSize total }
             benchmarks(page: null, pageSize: null) { page pageSize total } }""",
    )

    assert data == {
        "datasets": {"page": 1, "pageSize": 20, "total": 1},
        "benchmarks": {"page": 1, "pageSize": 20, "total": 0},
    }


def test_an_empty_dataset_name_filters_nothing_as_in_rest(mmlu_server: Server) -> None:
    response = upload(
        mmlu_server,
        "other",
        "jsonl",
        [("other.jsonl", b'{"input": "2 + 2 = ?", "expected": 4}\n')],
    )
    assert response.status_code == 201, response.text
    rest = mmlu_server.client.get("/v1/datasets?name=", headers=mmlu_server.auth).json()

    data = data_of(
        mmlu_server,
        """{ empty: datasets(name: "") { total items { id } }
             none: datasets(name: null) { total items { id } }
             mmlu: datasets(name: "mmlu") { total items { name } } }""",
    )

    # An empty name is no filter, in both: every dataset, as with no name at all.
    assert rest["total"] == 2
    assert data["empty"] == {
        "total": 2,
        "items": [{"id": item["id"]} for item in rest["items"]],
    }
    assert data["none"] == data["empty"]
    assert data["mmlu"] == {"total": 1, "items": [{"name": "mmlu"}]}


def test_create_benchmark_stores_and_runs_what_rest_then_reads(
    mmlu_server: Server,
) -> None:
    data = data_of(
        mmlu_server,
        """mutation($input: BenchmarkInput!) {
          createBenchmark(input: $input) { id name status targets { provider model }
                                           totalCells metrics seed }
        }""",
        input={
            "name": "from graphql",
            "targets": [{"provider": "fake", "model": FAKE_MODEL}],
            "dataset": "mmlu",
            "metrics": ["accuracy", "cost"],
            "iterations": 5,
            "seed": 3,
        },
    )
    created = data["createBenchmark"]
    final = wait_for(mmlu_server, created["id"])[-1]

    assert created["status"] == "PENDING"
    assert created["totalCells"] == 5 == final["total_cells"]
    assert final["name"] == "from graphql"
    assert final["providers"] == [{"provider": "fake", "model": FAKE_MODEL}]
    assert final["metrics"] == ["accuracy", "cost"] == created["metrics"]
    assert final["seed"] == 3
    assert final["status"] == "completed"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"iterations": 0}, "iterations"),
        ({"concurrency": 257}, "concurrency"),
        ({"targets": [{"provider": "fake", "model": FAKE_MODEL}] * 17}, "targets"),
        ({"targets": []}, "targets"),
        (
            {
                "targets": [
                    {"provider": "fake", "model": FAKE_MODEL},
                    {
                        "provider": "fake",
                        "model": FAKE_MODEL,
                        "parameters": {"maxTokens": 0},
                    },
                ]
            },
            "targets.1.parameters.maxTokens",
        ),
        ({"name": "tab\tbed"}, "name"),
    ],
)
def test_create_benchmark_is_held_to_the_rest_contract(
    mmlu_server: Server, change: dict[str, Any], field: str
) -> None:
    base = {
        "name": "bounds",
        "targets": [{"provider": "fake", "model": FAKE_MODEL}],
        "dataset": "mmlu",
        "metrics": ["accuracy"],
        "iterations": 5,
    }
    body = create_benchmark(
        mmlu_server,
        {"input": base | change},
    )

    assert error_codes(body) == ["BAD_REQUEST"]
    # Named as the GraphQL input names them (targets, maxTokens), not as REST.
    assert body["errors"][0]["message"] == f"input is invalid: {field}"
    fields = [d["field"] for d in body["errors"][0]["extensions"]["details"]["errors"]]
    assert fields == [field]
    listed = mmlu_server.client.get("/v1/benchmarks", headers=mmlu_server.auth).json()
    assert listed["total"] == 0


def test_create_benchmark_names_unconfigured_targets_as_graphql_does(
    mmlu_server: Server,
) -> None:
    body = create_benchmark(
        mmlu_server,
        {
            "input": {
                "name": "keys",
                "targets": [
                    {"provider": "openai", "model": "gpt-4o-mini"},
                    {"provider": "fake", "model": FAKE_MODEL},
                ],
                "judge": {"provider": "anthropic", "model": "claude-haiku"},
                "dataset": "mmlu",
                "metrics": ["accuracy", "relevance"],
                "iterations": 1,
            }
        },
    )

    assert error_codes(body) == ["BAD_REQUEST"]
    assert body["errors"][0]["message"] == (
        "Providers not configured: 'openai' (set OPENAI_API_KEY), "
        "'anthropic' (set ANTHROPIC_API_KEY)"
    )
    assert body["errors"][0]["extensions"]["details"] == {
        "targets": {"0": "openai"},
        "judge": "anthropic",
    }


def test_create_benchmark_names_an_unknown_provider_by_its_target(
    mmlu_server: Server,
) -> None:
    targets = [
        {"provider": "fake", "model": FAKE_MODEL},
        {"provider": "nobody", "model": "m"},
    ]

    body = create_benchmark(
        mmlu_server,
        {
            "input": {
                "name": "unknown",
                "targets": targets,
                "dataset": "mmlu",
                "metrics": ["accuracy"],
                "iterations": 1,
            }
        },
    )

    assert error_codes(body) == ["BAD_REQUEST"]
    assert body["errors"][0]["extensions"]["details"]["errors"] == [
        {"field": "targets.1.provider", "message": "is not a configured provider"}
    ]


def test_create_benchmark_refuses_a_judge_no_metric_uses_as_rest_does(
    mmlu_server: Server,
) -> None:
    body = create_benchmark(
        mmlu_server,
        {
            "input": {
                "name": "judge for nothing",
                "targets": [{"provider": "fake", "model": FAKE_MODEL}],
                "judge": {"provider": "fake", "model": FAKE_MODEL},
                "dataset": "mmlu",
                "metrics": ["accuracy"],
                "iterations": 1,
            }
        },
    )

    assert body["data"] is None
    (error,) = body["errors"]
    assert error["message"] == UNUSED_JUDGE
    assert error["extensions"] == {
        "code": "BAD_REQUEST",
        "details": UNUSED_JUDGE_DETAILS,
    }
    listed = mmlu_server.client.get("/v1/benchmarks", headers=mmlu_server.auth).json()
    assert listed["total"] == 0


def test_cancel_benchmark_cancels_as_rest_does(mmlu_server: Server) -> None:
    mmlu_server.provider.delay_s = 0.2
    created = start_benchmark(mmlu_server, concurrency=1)

    data = data_of(
        mmlu_server,
        "mutation($id: ID!) { cancelBenchmark(id: $id) { id status finishedAt } }",
        id=created["benchmark_id"],
    )
    rest = mmlu_server.client.get(
        f"/v1/benchmarks/{created['benchmark_id']}", headers=mmlu_server.auth
    ).json()
    again = graphql(
        mmlu_server,
        "mutation($id: ID!) { cancelBenchmark(id: $id) { id } }",
        {"id": created["benchmark_id"]},
    )
    audit = mmlu_server.client.get(
        "/v1/audit-log?action=benchmark.cancelled", headers=mmlu_server.auth
    )

    assert data["cancelBenchmark"]["status"] == "CANCELLED" == rest["status"].upper()
    assert data["cancelBenchmark"]["finishedAt"] is not None
    assert error_codes(again) == ["CONFLICT"]
    assert [e["target"] for e in audit.json()["items"]] == [created["benchmark_id"]]


# --- roles, authentication and transport errors ---------------------------------------


def test_a_viewer_may_query_but_not_mutate(mmlu_server: Server) -> None:
    viewer = role_headers(mmlu_server, "viewer")

    read = graphql(mmlu_server, "{ benchmarks { total } me { role } }", headers=viewer)
    write = graphql(
        mmlu_server,
        """mutation { createBenchmark(input: {name: "v", dataset: "mmlu",
             targets: [{provider: "fake", model: "fake-model"}], metrics: ["accuracy"],
             iterations: 1}) { id } }""",
        headers=viewer,
    )
    completion = graphql(
        mmlu_server,
        'mutation { createCompletion(input: {provider: "fake", model: "m", '
        'prompt: "hi"}) { text } }',
        headers=viewer,
    )

    assert read == {"data": {"benchmarks": {"total": 0}, "me": {"role": "VIEWER"}}}
    assert error_codes(write) == ["FORBIDDEN"]
    assert (
        write["errors"][0]["extensions"]["details"]["operation"] == "create_benchmark"
    )
    assert error_codes(completion) == ["FORBIDDEN"]
    assert mmlu_server.provider.requests == 0


def test_a_service_key_may_create_a_benchmark_as_rest_allows(
    mmlu_server: Server,
) -> None:
    service = role_headers(mmlu_server, "service")

    body = graphql(
        mmlu_server,
        """mutation { createBenchmark(input: {name: "s", dataset: "mmlu",
             targets: [{provider: "fake", model: "fake-model"}], metrics: ["accuracy"],
             iterations: 1}) { id } }""",
        headers=service,
    )

    assert "errors" not in body
    wait_for(mmlu_server, body["data"]["createBenchmark"]["id"])


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"X-API-Key": "ltb_" + "x" * 32}],
    ids=["none", "bad-jwt", "bad-key"],
)
def test_without_a_valid_credential_it_is_401_in_the_envelope(
    server: Server, headers: dict[str, str]
) -> None:
    response = server.client.post(
        "/graphql", headers=headers, json={"query": "{ version }"}
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert response.headers["X-Request-ID"] == response.json()["request_id"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"query": ', "not valid JSON"),
        (b"{}", "query"),
        (b'{"query": ""}', "query"),
        (b'[{"query": "{ version }"}, {"query": "{ health }"}]', "object"),
        (b'{"query": "{ version }", "variables": [1]}', "variables"),
    ],
    ids=["bad-json", "no-query", "empty-query", "batch", "variables-not-object"],
)
def test_a_request_that_is_not_one_graphql_operation_is_400_in_the_envelope(
    server: Server, content: bytes, message: str
) -> None:
    response = server.client.post(
        "/graphql",
        headers={**server.auth, "Content-Type": "application/json"},
        content=content,
    )

    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "BAD_REQUEST"
    assert message in str(body["error"])
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_graphql_requests_count_against_the_rate_limit(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(settings_options={"rate_limit": 1, "rate_limit_burst": 1})

    statuses = [
        server.client.post(
            "/graphql", headers=server.auth, json={"query": "{ version }"}
        ).status_code
        for _ in range(3)
    ]
    refused = server.client.post(
        "/graphql", headers=server.auth, json={"query": "{ version }"}
    )

    assert statuses[:2] == [200, 200]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(refused.headers["Retry-After"]) >= 1


def test_a_syntax_error_is_a_graphql_error_with_bad_request(server: Server) -> None:
    body = graphql(server, "{ version ")

    assert body.keys() == {"errors"}
    assert error_codes(body) == ["BAD_REQUEST"]
    assert body["errors"][0]["locations"] == [{"line": 1, "column": 11}]


# Found by schemathesis (tests/contract/test_graphql_schemathesis.py): a document
# whose literal holds the escape \u0000 was refused at the HTTP layer as if the
# JSON body held a NUL, in the REST envelope instead of a GraphQL response.
FOUND_ESCAPED_NUL = (
    'mutation {\n  createEvaluation(\n    input: {model: "\\u0001V", '
    'input: "b", output: "\\u0010\\u0000\\b", metrics: []}\n  ) {\n'
    "    score\n  }\n}"
)


def test_an_escaped_nul_in_a_document_is_a_graphql_error_not_an_http_400(
    server: Server,
) -> None:
    body = graphql(server, FOUND_ESCAPED_NUL)

    assert body.keys() == {"errors"}
    messages = [error["message"] for error in body["errors"]]
    assert any("provider" in message for message in messages), messages
    assert "A string in the document contains a NUL character" in messages
    assert set(error_codes(body)) == {"BAD_REQUEST"}


@pytest.mark.parametrize(
    ("literal", "refused"),
    [("a\\u0000b", True), ("a\\\\u0000b", False)],
    ids=["escaped-nul", "written-out-escape"],
)
def test_a_nul_in_a_string_literal_is_refused_but_its_written_out_escape_is_not(
    server: Server, literal: str, refused: bool
) -> None:
    body = graphql(server, f'{{ datasets(name: "{literal}") {{ total }} }}')

    if refused:
        assert body.keys() == {"errors"}
        assert error_codes(body) == ["BAD_REQUEST"]
        assert "NUL" in body["errors"][0]["message"]
    else:
        assert body == {"data": {"datasets": {"total": 0}}}


def test_a_written_out_nul_escape_in_a_json_body_is_accepted(server: Server) -> None:
    # The same false positive held for REST: the text "\u0000" is not a NUL.
    response = server.client.post(
        "/v1/auth/login", json={"username": "a\\u0000b", "password": "x"}
    )

    assert response.status_code == 401, response.text


def test_an_unexpected_failure_leaks_no_traceback_sql_or_path(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = server.client.app.app.extensions["ltb"]

    def broken() -> list[dict[str, Any]]:
        raise RuntimeError(
            'Traceback (most recent call last): File "/srv/app/x.py" '
            "SELECT * FROM users"
        )

    monkeypatch.setattr(runtime.providers, "describe", broken)
    response = server.client.post(
        "/graphql",
        headers=server.auth,
        json={"query": "{ version providers { name } }"},
    )

    text = response.text
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert error_codes(response.json()) == ["INTERNAL_ERROR"]
    assert "request id" in response.json()["errors"][0]["message"]
    for leak in ("Traceback", "/srv/app", "x.py", "SELECT", "RuntimeError"):
        assert leak not in text


# --- protection: depth, cost, introspection, switch ---------------------------------


def nested_introspection(depth: int) -> str:
    """An introspection query exactly ``depth`` fields deep."""
    inner = "name"
    for _ in range(depth - 5):
        inner = f"ofType {{ {inner} }}"
    return f"{{ __schema {{ types {{ fields {{ type {{ {inner} }} }} }} }} }}"


def test_a_query_one_level_deeper_than_the_limit_is_refused(server: Server) -> None:
    limit = server.settings.graphql_max_depth

    at_limit = graphql(server, nested_introspection(limit))
    too_deep = graphql(server, nested_introspection(limit + 1))

    assert "errors" not in at_limit
    assert error_codes(too_deep) == ["BAD_REQUEST"]
    assert too_deep["errors"][0]["message"] == (
        f"Operation 'anonymous' is {limit + 1} fields deep; the limit is {limit}"
    )
    assert "data" not in too_deep


def test_a_full_introspection_query_fits_the_default_limits(server: Server) -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )

    body = graphql(server, query)

    assert "errors" not in body
    names = {t["name"] for t in body["data"]["__schema"]["types"]}
    assert {"Benchmark", "PluginNode", "DateTime"} <= names


def test_the_depth_limit_counts_inside_named_fragment_chains(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(settings_options={"graphql_max_depth": 4})

    allowed = graphql(
        server,
        "{ benchmarks { items { dataset { ...Ref } } } } "
        "fragment Ref on DatasetRef { id }",
    )
    refused = graphql(
        server,
        """query Deep { benchmarks { items { ...A } } }
           fragment A on Benchmark { ... on Benchmark { results { ...B } } }
           fragment B on TargetResult { latencyMs { ...C } }
           fragment C on LatencySummary { p50 }""",
    )

    assert "errors" not in allowed
    assert refused["errors"][0]["message"] == (
        "Operation 'Deep' is 5 fields deep; the limit is 4"
    )


EXPENSIVE = "results { latencyMs { p50 p95 p99 mean } accuracy costUsd }"


@pytest.mark.parametrize(
    "query",
    [
        f"{{ benchmarks(pageSize: 100) {{ items {{ {EXPENSIVE} }} }} }}",
        "{ ... on Query { benchmarks(pageSize: 100) { items { "
        + EXPENSIVE
        + " } } } }",
        f"""query($size: Int!) {{ benchmarks(pageSize: $size) {{ items {{ ...A }} }} }}
            fragment A on Benchmark {{ ...B }}
            fragment B on Benchmark {{ ... on Benchmark {{ ...C }} }}
            fragment C on Benchmark {{ {EXPENSIVE} }}""",
        f"""query($size: Int = 100) {{
              benchmarks(pageSize: $size) {{ items {{ {EXPENSIVE} }} }}
            }}""",
    ],
    ids=["plain", "inline-fragment", "named-fragment-chain", "variable-default"],
)
def test_an_expensive_selection_is_refused_wherever_it_hides(
    server: Server, query: str
) -> None:
    body = graphql(server, query, {"size": 100} if "$size: Int!" in query else None)

    assert error_codes(body) == ["BAD_REQUEST"]
    extensions = body["errors"][0]["extensions"]
    assert extensions["details"]["cost"] > extensions["details"]["limit"] == 5000
    assert "costs" in body["errors"][0]["message"]


def test_the_same_selection_on_a_small_page_is_allowed(server: Server) -> None:
    body = graphql(
        server, f"{{ benchmarks(pageSize: 5) {{ items {{ {EXPENSIVE} }} }} }}"
    )

    assert body == {"data": {"benchmarks": {"items": []}}}


def test_fragments_that_double_at_every_level_are_measured_not_expanded(
    server: Server,
) -> None:
    levels = 40  # 2**40 fields if expanded
    fragments = "\n".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    query = f"{{ ...F0 }}\n{fragments}\nfragment F{levels} on Query {{ version }}"

    body = graphql(server, query)

    assert error_codes(body) == ["BAD_REQUEST"]
    assert body["errors"][0]["extensions"]["details"]["cost"] == 2**levels


def test_a_fragment_cycle_is_refused_instead_of_hanging(server: Server) -> None:
    body = graphql(
        server,
        """{ benchmarks { items { ...A } } }
           fragment A on Benchmark { id ...B }
           fragment B on Benchmark { name ...A }""",
    )

    assert "errors" in body and "data" not in body
    assert set(error_codes(body)) == {"BAD_REQUEST"}
    assert any("A" in error["message"] for error in body["errors"])


def test_introspection_is_on_by_default_and_can_be_switched_off(
    make_server: Callable[..., Server],
) -> None:
    on = make_server()
    off = make_server(settings_options={"graphql_introspection": False})
    query = "{ __schema { queryType { name } } }"

    assert graphql(on, query) == {
        "data": {"__schema": {"queryType": {"name": "Query"}}}
    }
    refused = graphql(off, query)
    assert error_codes(refused) == ["BAD_REQUEST"]
    assert "introspection" in refused["errors"][0]["message"].lower()
    assert graphql(off, "{ version }") == {"data": {"version": __version__}}


def test_disabling_graphql_removes_the_endpoint(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(settings_options={"enable_graphql": False})
    client = server.client

    responses = [
        client.post("/graphql", headers=server.auth, json={"query": "{ version }"}),
        client.post("/graphql", json={"query": "{ version }"}),
        client.get("/graphql"),
        client.get("/graphql/assets/graphiql.min.js"),
    ]

    for response in responses:
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
        assert response.json()["request_id"] == response.headers["X-Request-ID"]
    assert client.get("/health").status_code == 200


# --- the playground ---------------------------------------------------------------


def test_the_playground_page_loads_every_file_from_this_server(server: Server) -> None:
    page = server.client.get("/graphql", headers={"Accept": "text/html"})
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert sources and all(s.startswith("/graphql/assets/") for s in sources)
    for source in sources:
        asset = server.client.get(source)
        assert asset.status_code == 200, source
        assert asset.headers["content-type"].startswith(("text/javascript", "text/css"))
        assert len(asset.content) > 1000


def test_an_unknown_playground_file_is_refused(server: Server) -> None:
    response = server.client.get("/graphql/assets/..%2Fwebsocket.py")

    assert response.status_code in (400, 404)
    assert response.json()["error"]["code"] in ("BAD_REQUEST", "NOT_FOUND")


def test_a_request_holds_at_most_five_mutations(server: Server) -> None:
    # Found by a new user: 300 aliased createCompletion fields in one request ran
    # 300 provider calls for one request's worth of rate limit.
    fields = " ".join(
        f'm{i}: cancelBenchmark(id: "00000000-0000-0000-0000-00000000000{i}") {{ id }}'
        for i in range(6)
    )
    body = graphql(server, f"mutation {{ {fields} }}")
    assert body.get("data") is None
    assert error_codes(body) == ["BAD_REQUEST"]
    assert "6 mutation fields; the limit is 5" in body["errors"][0]["message"]
    assert server.provider.requests == 0


def test_a_document_of_too_many_tokens_is_refused_before_validation(
    server: Server,
) -> None:
    # Found by a new user: a megabyte of operations took seconds to validate.
    query = " ".join(f"query Q{i} {{ version }}" for i in range(3000))
    body = graphql(server, query)
    assert error_codes(body) == ["BAD_REQUEST"]
    assert "more than 10000 tokens" in body["errors"][0]["message"]
