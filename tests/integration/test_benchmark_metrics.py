"""Benchmarks score every cell with any registered metric: built-in, judged, plugin."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import FAKE_MODEL, Server, answer_b
from tests.integration.test_benchmarks import all_cells, start_benchmark, wait_for
from tests.integration.test_datasets import mmlu_dev_files, upload
from tests.integration.test_evaluations import judge_cost, judge_reply
from tests.support.plugins import requires_test_plugins

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
        (
            ["accuracy", "coherence", "relevance"],
            "Judged metrics need a judge: give 'judge' {provider, model} "
            "(judged: coherence, relevance)",
        ),
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


UNUSED_JUDGE = (
    "'judge' is given but no requested metric uses it: add a judged metric "
    "(coherence, faithfulness, relevance) to 'metrics', or leave 'judge' out"
)
UNUSED_JUDGE_DETAILS = {
    "errors": [{"field": "judge", "message": "no requested metric uses it"}],
    "judged_metrics": ["coherence", "faithfulness", "relevance"],
}


@pytest.mark.parametrize("judge_provider", ["fake", "anthropic"])
def test_a_judge_no_requested_metric_uses_is_refused(
    mmlu_server: Server, judge_provider: str
) -> None:
    # Named first even when the judge's provider has no key (anthropic here):
    # leaving the judge out is the whole fix.
    body = {
        "name": "judge for nothing",
        "providers": [{"provider": "fake", "model": FAKE_MODEL}],
        "judge": {"provider": judge_provider, "model": FAKE_MODEL},
        "dataset": "mmlu",
        "metrics": ["accuracy", "exact_match", "latency"],
        "iterations": 1,
    }

    response = mmlu_server.client.post(
        "/v1/benchmarks", headers=mmlu_server.auth, json=body
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == {
        "code": "BAD_REQUEST",
        "message": UNUSED_JUDGE,
        "details": UNUSED_JUDGE_DETAILS,
    }
    listed = mmlu_server.client.get("/v1/benchmarks", headers=mmlu_server.auth)
    assert listed.json()["total"] == 0


def judge_or_answer_b(prompt: str) -> str:
    """One fake model: the judge of test_evaluations for judge prompts, else B."""
    reply = judge_reply(prompt)
    return answer_b(prompt) if reply == "unexpected prompt" else reply


def garbled_relevance(prompt: str) -> str:
    """A judge whose relevance replies are never usable."""
    if "addresses the INPUT" in prompt:
        return "I would rather not say."
    return judge_or_answer_b(prompt)


def judged_benchmark(
    server: Server, datasets_dir: Path, **overrides: Any
) -> dict[str, Any]:
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    body = {
        "providers": [{"provider": "fake", "model": FAKE_MODEL}],
        "metrics": ["accuracy", "relevance", "coherence"],
        "judge": {"provider": "fake", "model": FAKE_MODEL},
        "iterations": 6,
    } | overrides
    created = start_benchmark(server, **body)
    assert created["judge"] == {"provider": "fake", "model": FAKE_MODEL}
    final = wait_for(server, created["benchmark_id"])[-1]
    assert final["status"] == "completed", final
    return final


def test_judged_metrics_are_scored_per_cell_by_the_benchmarks_judge(
    make_server: Callable[..., Server], datasets_dir: Path
) -> None:
    server = make_server(reply=judge_or_answer_b)

    final = judged_benchmark(server, datasets_dir)
    cells = all_cells(server, final["benchmark_id"])

    assert len(cells) == 6
    for cell in cells:
        assert cell["error"] is None
        # Relevance rating 4 -> 0.75; coherence rating 3 -> 0.5.
        assert cell["metrics"] == {
            "accuracy": float(cell["correct"]),
            "relevance": 0.75,
            "coherence": 0.5,
        }
        assert cell["metric_reasons"] == {}
        assert cell["judge"]["calls"] == 2
    (target,) = final["results"]["targets"]
    assert target["metrics"]["relevance"] == 0.75
    assert target["metrics"]["coherence"] == 0.5
    judge_prompts = [p for p in server.provider.prompts if "JSON object" in p]
    assert len(judge_prompts) == 12
    assert target["judge_cost_usd"] == pytest.approx(judge_cost(judge_prompts))
    assert target["judge_prompt_tokens"] == sum(
        c["judge"]["prompt_tokens"] for c in cells
    )
    assert target["judge_prompt_tokens"] == sum(len(p.split()) for p in judge_prompts)
    # The target's own cost leaves the judge out.
    assert target["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in cells))


def test_a_judge_failure_costs_the_cells_metric_not_the_cell(
    make_server: Callable[..., Server], datasets_dir: Path
) -> None:
    server = make_server(reply=garbled_relevance)

    final = judged_benchmark(server, datasets_dir)
    cells = all_cells(server, final["benchmark_id"])

    for cell in cells:
        assert cell["error"] is None
        assert cell["metrics"]["relevance"] is None
        assert cell["metrics"]["coherence"] == 0.5
        assert cell["metric_reasons"] == {
            "relevance": "the judge's reply held no JSON object (after one retry)"
        }
    (target,) = final["results"]["targets"]
    assert target["metrics"] == {
        "accuracy": target["accuracy"],
        "relevance": None,
        "coherence": 0.5,
    }


@requires_test_plugins
def test_a_plugin_metric_is_scored_per_cell_and_averaged(
    make_server: Callable[..., Server], datasets_dir: Path
) -> None:
    server = make_server(settings_options={"plugin_time_limit_s": 2.0})
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    keywords = ["answer", "B", "C"]

    created = start_benchmark(
        server,
        providers=[{"provider": "fake", "model": FAKE_MODEL}],
        metrics=["plugin:keyword-coverage", "plugin:test-raises"],
        parameters={"plugin:keyword-coverage": {"keywords": keywords}},
        iterations=4,
    )
    final = wait_for(server, created["benchmark_id"])[-1]
    cells = all_cells(server, created["benchmark_id"])

    assert final["status"] == "completed"
    assert final["parameters"] == {"plugin:keyword-coverage": {"keywords": keywords}}
    for cell in cells:
        words = set(cell["output"].lower().replace(":", " ").split())
        expected = sum(k.lower() in words for k in keywords) / len(keywords)
        assert cell["output"] == "Answer: B" and expected == 2 / 3
        assert cell["metrics"] == {
            "plugin:keyword-coverage": pytest.approx(expected),
            "plugin:test-raises": None,
        }
        assert "raised ValueError" in cell["metric_reasons"]["plugin:test-raises"]
        assert cell["judge"] is None
    (target,) = final["results"]["targets"]
    assert target["metrics"] == {
        "plugin:keyword-coverage": pytest.approx(2 / 3),
        "plugin:test-raises": None,
    }
