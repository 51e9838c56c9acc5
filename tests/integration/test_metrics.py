"""GET /metrics in process: each figure rises by exactly what the test did.

The in-process app keeps its figures in prometheus_client's default registry,
shared by every app of the test process: each test compares before and after.
The sum over gunicorn's workers is in tests/e2e/test_observability_live.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import FAKE_MODEL, FAKE_PRICE, Server
from tests.integration.test_benchmarks import wait_for
from tests.integration.test_graphql_subscriptions import connected
from tests.integration.test_websocket import connect, receive, send

Labels = dict[str, str]


def scrape(server: Server, **headers: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of GET /metrics by (name, labels)."""
    response = server.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_route_template_and_status(server: Server) -> None:
    missing = [str(uuid.uuid4()) for _ in range(3)]
    before = scrape(server)

    for _ in range(5):
        assert (
            server.client.get("/v1/providers", headers=server.auth).status_code == 200
        )
    for benchmark_id in missing:
        response = server.client.get(
            f"/v1/benchmarks/{benchmark_id}", headers=server.auth
        )
        assert response.status_code == 404
    assert server.client.get("/no/such/path").status_code == 404
    after = scrape(server)

    def rise(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        return value(after, "ltb_http_requests_total", **labels) - value(
            before, "ltb_http_requests_total", **labels
        )

    assert rise("/v1/providers", "200") == 5
    assert rise("/v1/benchmarks/{id}", "404") == 3
    assert rise("other", "404") == 1
    # The latency histogram saw the same requests; no raw path became a label.
    count = ("ltb_http_request_duration_seconds_count", "/v1/providers")
    assert (
        value(after, count[0], method="GET", route=count[1])
        - value(before, count[0], method="GET", route=count[1])
        == 5
    )
    assert not any(
        benchmark_id in str(key) for key in after for benchmark_id in missing
    )


def test_provider_tokens_and_cost_equal_the_fake_providers_usage(
    server: Server,
) -> None:
    prompts = ["What is six times seven?", "Name the second letter of the alphabet"]
    before = scrape(server)

    usages = []
    for prompt in prompts:
        response = server.client.post(
            "/v1/completions",
            headers=server.auth,
            json={"provider": "fake", "model": FAKE_MODEL, "prompt": prompt},
        )
        assert response.status_code == 200, response.text
        usages.append(response.json()["usage"])
    after = scrape(server)

    def rise(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # The fake counts one token per word of the prompt and of its reply.
    prompt_tokens = sum(len(p.split()) for p in prompts)
    completion_tokens = sum(u["completion_tokens"] for u in usages)
    assert prompt_tokens == sum(u["prompt_tokens"] for u in usages)
    labels = {"provider": "fake", "model": FAKE_MODEL}
    assert rise("ltb_provider_calls_total", **labels, outcome="ok") == 2
    assert rise("ltb_provider_tokens_total", **labels, kind="prompt") == prompt_tokens
    assert (
        rise("ltb_provider_tokens_total", **labels, kind="completion")
        == completion_tokens
    )
    expected_cost = (
        prompt_tokens * FAKE_PRICE["input_per_mtok"]
        + completion_tokens * FAKE_PRICE["output_per_mtok"]
    ) / 1e6
    assert rise("ltb_provider_cost_usd_total", **labels) == pytest.approx(expected_cost)
    assert rise("ltb_provider_call_duration_seconds_count", **labels) == 2


def test_a_model_outside_the_providers_file_is_counted_as_other(
    server: Server,
) -> None:
    model = f"made-up-{uuid.uuid4().hex[:8]}"
    before = scrape(server)

    response = server.client.post(
        "/v1/completions",
        headers=server.auth,
        json={"provider": "fake", "model": model, "prompt": "hello there"},
    )
    after = scrape(server)

    assert response.status_code == 200, response.text
    labels = {"provider": "fake", "model": "other", "outcome": "ok"}
    assert (
        value(after, "ltb_provider_calls_total", **labels)
        - value(before, "ltb_provider_calls_total", **labels)
        == 1
    )
    assert not any(model in str(key) for key in after)


def test_failed_provider_calls_are_counted_as_unavailable(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(fail_first=1, fail_status=503)
    labels = {"provider": "fake", "model": FAKE_MODEL, "outcome": "unavailable"}
    before = value(scrape(server), "ltb_provider_calls_total", **labels)

    response = server.client.post(
        "/v1/completions",
        headers=server.auth,
        json={"provider": "fake", "model": FAKE_MODEL, "prompt": "hello"},
    )

    assert response.status_code == 503
    assert value(scrape(server), "ltb_provider_calls_total", **labels) - before == 1


def test_benchmark_cells_are_counted_by_outcome(server: Server) -> None:
    # Two questions whose answer is B (the fake always answers B) and one whose
    # answer is C, asked of one target twice each: 4 correct and 2 wrong cells.
    items = b"".join(
        b'{"input": "Pick one", "expected": "%s", "choices": ["w", "x", "y", "z"], '
        b'"id": "q%d"}\n' % (answer, i)
        for i, answer in enumerate([b"B", b"B", b"C"])
    )
    name = f"cells-{uuid.uuid4().hex[:8]}"
    uploaded = server.client.post(
        "/v1/datasets",
        headers=server.auth,
        data={"name": name, "format": "jsonl"},
        files=[("file", ("items.jsonl", items))],
    )
    assert uploaded.status_code == 201, uploaded.text
    before = scrape(server)

    created = server.client.post(
        "/v1/benchmarks",
        headers=server.auth,
        json={
            "name": "cells",
            "providers": [{"provider": "fake", "model": FAKE_MODEL}],
            "dataset": name,
            "metrics": ["accuracy"],
            "iterations": 3,
            "repeats": 2,
        },
    )
    assert created.status_code == 201, created.text
    assert wait_for(server, created.json()["benchmark_id"])[-1]["status"] == "completed"
    after = scrape(server)

    def rise(outcome: str) -> float:
        return value(after, "ltb_benchmark_cells_total", outcome=outcome) - value(
            before, "ltb_benchmark_cells_total", outcome=outcome
        )

    assert (rise("correct"), rise("wrong"), rise("error")) == (4, 2, 0)


def test_the_open_websocket_gauge_goes_to_one_then_back_to_zero(
    server: Server,
) -> None:
    def gauge() -> float:
        return value(scrape(server), "ltb_websocket_connections", endpoint="/ws")

    before = gauge()
    with connect(server) as ws:
        send(ws, type="auth", token=server.token)
        assert receive(ws)["type"] == "ack"
        during = gauge()
    deadline = time.monotonic() + 5
    while gauge() != before and time.monotonic() < deadline:
        time.sleep(0.02)

    assert (before, during, gauge()) == (0, 1, 0)


def test_graphql_subscription_sockets_are_counted_apart(server: Server) -> None:
    def gauge() -> float:
        return value(scrape(server), "ltb_websocket_connections", endpoint="/graphql")

    before = gauge()
    with connected(server):
        during = gauge()
    deadline = time.monotonic() + 5
    while gauge() != before and time.monotonic() < deadline:
        time.sleep(0.02)

    assert (before, during, gauge()) == (0, 1, 0)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "metrics-scrape-token-1", "Basic bWV0cmljcw=="],
)
def test_with_metrics_token_a_scrape_without_it_gets_401_in_the_envelope(
    make_server: Callable[..., Server], authorization: str | None
) -> None:
    server = make_server(settings_options={"metrics_token": "metrics-scrape-token-1"})
    headers = {"Authorization": authorization} if authorization else {}

    response = server.client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert "metrics-scrape-token-1" not in response.text


def test_with_metrics_token_the_right_bearer_gets_the_metrics(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(settings_options={"metrics_token": "metrics-scrape-token-1"})

    samples = scrape(server, Authorization="Bearer metrics-scrape-token-1")

    assert any(name == "ltb_http_requests_total" for name, _ in samples)


def test_metrics_are_public_without_a_token(server: Server) -> None:
    # A user's JWT is not needed, and not refused either.
    assert server.client.get("/metrics").status_code == 200
    assert server.client.get("/metrics", headers=server.auth).status_code == 200
