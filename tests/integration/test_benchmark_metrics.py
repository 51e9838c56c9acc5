"""Benchmarks score every cell with any registered deterministic metric."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import Server
from tests.integration.test_benchmarks import all_cells, start_benchmark, wait_for
from tests.integration.test_datasets import mmlu_dev_files, upload

METRICS = ["accuracy", "exact_match", "contains", "length", "latency", "cost"]


@pytest.fixture
def mmlu_server(server: Server, datasets_dir: Path) -> Server:
    response = upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    assert response.status_code == 201
    return server


def test_per_cell_metrics_and_their_per_target_means(mmlu_server: Server) -> None:
    created = start_benchmark(mmlu_server, metrics=METRICS, iterations=12)
    final = wait_for(mmlu_server, created["benchmark_id"])[-1]
    cells = all_cells(mmlu_server, created["benchmark_id"])

    assert final["status"] == "completed"
    for cell in cells:
        metrics = cell["metrics"]
        assert list(metrics) == METRICS
        # The fake answers "Answer: B" to every question.
        assert metrics["accuracy"] == float(cell["correct"])
        assert metrics["exact_match"] == 0.0  # "Answer: B" is not "B"
        # Case-insensitive: the "a" of "Answer" contains the expected "A" too.
        assert metrics["contains"] == float(cell["expected"] in "AB")
        assert metrics["length"] == len(cell["output"]) == len("Answer: B")
        assert metrics["latency"] == cell["latency_ms"]
        assert metrics["cost"] == pytest.approx(cell["cost_usd"])

    for target in final["results"]["targets"]:
        mine = [c for c in cells if c["target_index"] == target["target_index"]]
        means = target["metrics"]
        assert means["accuracy"] == pytest.approx(target["accuracy"])
        assert means["contains"] == pytest.approx(
            sum(c["metrics"]["contains"] for c in mine) / len(mine)
        )
        assert means["length"] == 9.0
        assert means["latency"] == pytest.approx(
            sum(c["latency_ms"] for c in mine) / len(mine)
        )
        assert means["cost"] == pytest.approx(target["cost_usd"] / len(mine))


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        (["accuracy", "nope"], "Unknown metrics: nope; known metrics: accuracy"),
        (["accuracy", "coherence"], "judged metrics need a judge; not supported"),
    ],
)
def test_unknown_and_judged_metrics_are_refused(
    server: Server, metrics: list[str], message: str
) -> None:
    body = {
        "name": "refused",
        "providers": [{"provider": "fake", "model": "fake-model"}],
        "dataset": "mmlu",
        "metrics": metrics,
        "iterations": 1,
    }
    response = server.client.post("/v1/benchmarks", headers=server.auth, json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
