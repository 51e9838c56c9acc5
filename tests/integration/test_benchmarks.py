"""Benchmarks over REST against a loopback provider whose every answer is known."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.benchmarks.engine import BenchmarkEngine
from tests.integration.conftest import FAKE_MODEL, FAKE_PRICE, Server
from tests.integration.test_datasets import mmlu_dev_files, upload

TERMINAL = {"completed", "failed", "cancelled"}


def start_benchmark(server: Server, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "fake vs fake",
        "providers": [
            {"provider": "fake", "model": FAKE_MODEL},
            {"provider": "fake", "model": FAKE_MODEL, "parameters": {"max_tokens": 4}},
        ],
        "dataset": "mmlu",
        "metrics": ["accuracy", "latency", "cost"],
        "iterations": 40,
        "concurrency": 8,
        "seed": 7,
    } | overrides
    response = server.client.post("/v1/benchmarks", headers=server.auth, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def wait_for(server: Server, benchmark_id: str, timeout: float = 60) -> list[dict]:
    """Poll until the benchmark ends; return every state seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = server.client.get(
            f"/v1/benchmarks/{benchmark_id}", headers=server.auth
        ).json()
        seen.append(state)
        if state["status"] in TERMINAL:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"benchmark {benchmark_id} still {seen[-1]['status']}")


def all_cells(server: Server, benchmark_id: str) -> list[dict[str, Any]]:
    cells, page = [], 1
    while True:
        body = server.client.get(
            f"/v1/benchmarks/{benchmark_id}/results?page={page}&page_size=100",
            headers=server.auth,
        ).json()
        cells += body["items"]
        if page >= body["total_pages"]:
            return cells
        page += 1


@pytest.fixture
def mmlu_server(server: Server, datasets_dir: Path) -> Server:
    response = upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    assert response.status_code == 201
    return server


def test_a_benchmark_runs_to_completion_with_results_that_match_its_cells(
    mmlu_server: Server,
) -> None:
    created = start_benchmark(mmlu_server)
    states = wait_for(mmlu_server, created["benchmark_id"])
    final = states[-1]
    cells = all_cells(mmlu_server, created["benchmark_id"])

    assert created["status"] == "pending"
    assert created["progress"] == 0.0
    assert created["results"] is None
    assert final["status"] == "completed", final
    assert final["progress"] == 1.0
    progress = [s["progress"] for s in states]
    assert progress == sorted(progress)
    assert len(cells) == 80 == final["total_cells"]

    targets = final["results"]["targets"]
    assert [(t["target_index"], t["parameters"]) for t in targets] == [
        (0, {}),
        (1, {"max_tokens": 4}),
    ]
    for index, target in enumerate(targets):
        mine = [c for c in cells if c["target_index"] == index]
        expected_accuracy = sum(c["expected"] == "B" for c in mine) / len(mine)
        prompt_tokens = sum(c["prompt_tokens"] for c in mine)
        completion_tokens = sum(c["completion_tokens"] for c in mine)

        assert target["items"] == 40
        assert target["errors"] == 0
        assert target["accuracy"] == pytest.approx(expected_accuracy)
        assert all(c["extracted"] == "B" for c in mine)
        assert target["prompt_tokens"] == prompt_tokens
        assert target["completion_tokens"] == completion_tokens == 2 * 40
        assert target["cost_usd"] == pytest.approx(
            (
                prompt_tokens * FAKE_PRICE["input_per_mtok"]
                + completion_tokens * FAKE_PRICE["output_per_mtok"]
            )
            / 1e6
        )
        latencies = sorted(c["latency_ms"] for c in mine)
        assert target["latency_ms"]["p50"] == latencies[19]  # nearest rank of 40
        assert target["latency_ms"]["p99"] == latencies[-1]


def test_prompt_tokens_are_the_ones_the_provider_reported(mmlu_server: Server) -> None:
    created = start_benchmark(
        mmlu_server, iterations=5, providers=[{"provider": "fake", "model": FAKE_MODEL}]
    )
    wait_for(mmlu_server, created["benchmark_id"])

    for cell in all_cells(mmlu_server, created["benchmark_id"]):
        assert cell["prompt_tokens"] == len(cell["prompt"].split())
        assert cell["output"] == "Answer: B"


def test_the_same_seed_samples_the_same_items_and_another_seed_others(
    mmlu_server: Server,
) -> None:
    def keys(seed: int) -> list[str]:
        created = start_benchmark(mmlu_server, seed=seed, iterations=10)
        wait_for(mmlu_server, created["benchmark_id"])
        cells = all_cells(mmlu_server, created["benchmark_id"])
        return sorted(c["item_key"] for c in cells if c["target_index"] == 0)

    assert keys(1) == keys(1)
    assert keys(1) != keys(2)


def test_iterations_beyond_the_dataset_take_every_item(mmlu_server: Server) -> None:
    created = start_benchmark(
        mmlu_server,
        iterations=10_000,
        providers=[{"provider": "fake", "model": FAKE_MODEL}],
        concurrency=32,
    )

    assert created["total_cells"] == 285
    assert wait_for(mmlu_server, created["benchmark_id"])[-1]["status"] == "completed"


def test_numeric_answers_are_extracted_and_scored(
    server: Server, datasets_dir: Path
) -> None:
    lines = (datasets_dir / "gsm8k" / "test.jsonl").read_bytes().splitlines()[:30]
    upload(server, "gsm8k", "gsm8k-jsonl", [("test.jsonl", b"\n".join(lines))])

    created = start_benchmark(server, dataset="gsm8k", iterations=30)
    final = wait_for(server, created["benchmark_id"])[-1]
    cells = all_cells(server, created["benchmark_id"])

    assert all(c["extracted"] == "42" for c in cells)
    right = sum(c["expected"] == "42" for c in cells if c["target_index"] == 0)
    assert final["results"]["targets"][0]["correct"] == right


def test_provider_failures_are_stored_as_errors_and_count_as_wrong(
    make_server: Callable[..., Server], datasets_dir: Path
) -> None:
    server = make_server(fail_first=5, fail_status=500)
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))

    created = start_benchmark(
        server, providers=[{"provider": "fake", "model": FAKE_MODEL}], concurrency=1
    )
    final = wait_for(server, created["benchmark_id"])[-1]
    target = final["results"]["targets"][0]
    cells = all_cells(server, created["benchmark_id"])

    assert final["status"] == "completed"
    assert target["errors"] == 5
    assert target["items"] == 40
    failed = [c for c in cells if c["error"]]
    assert len(failed) == 5 and not any(c["correct"] for c in failed)
    correct = sum(c["correct"] for c in cells)
    assert target["accuracy"] == pytest.approx(correct / 40)


def test_cancelling_stops_a_running_benchmark_and_keeps_its_cells(
    make_server: Callable[..., Server], datasets_dir: Path
) -> None:
    server = make_server(delay_s=0.2)
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    created = start_benchmark(server, concurrency=2)
    time.sleep(0.8)

    response = server.client.post(
        f"/v1/benchmarks/{created['benchmark_id']}/cancel", headers=server.auth
    )
    stored = len(all_cells(server, created["benchmark_id"]))
    time.sleep(0.6)
    again = server.client.post(
        f"/v1/benchmarks/{created['benchmark_id']}/cancel", headers=server.auth
    )

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert 0 < stored < 80
    assert len(all_cells(server, created["benchmark_id"])) == stored
    assert again.status_code == 409


def test_a_restarted_server_resumes_without_losing_or_repeating_cells(
    make_server: Callable[..., Server], datasets_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "persistent"
    first = make_server(delay_s=0.1, data_dir=data_dir)
    upload(first, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    created = start_benchmark(first, concurrency=4)
    benchmark_id = created["benchmark_id"]
    time.sleep(0.7)
    first.client.__exit__(None, None, None)  # stop: the lifespan shuts the engine down

    second = make_server(data_dir=data_dir)
    final = wait_for(second, benchmark_id)[-1]
    cells = all_cells(second, benchmark_id)
    keys = [(c["target_index"], c["item_position"], c["repeat"]) for c in cells]

    assert 0 < first.provider.requests < 80
    assert final["status"] == "completed"
    assert len(keys) == len(set(keys)) == 80
    # The second server ran only what the first had not stored.
    assert second.provider.requests <= 80 - (first.provider.requests - 4)


def test_benchmarks_are_listed_newest_first_and_filtered_by_status(
    mmlu_server: Server,
) -> None:
    ids = [start_benchmark(mmlu_server, iterations=2)["benchmark_id"] for _ in range(3)]
    for benchmark_id in ids:
        wait_for(mmlu_server, benchmark_id)

    page = mmlu_server.client.get(
        "/v1/benchmarks?page=1&page_size=2&status=completed", headers=mmlu_server.auth
    ).json()
    none = mmlu_server.client.get(
        "/v1/benchmarks?status=failed", headers=mmlu_server.auth
    ).json()

    assert [b["benchmark_id"] for b in page["items"]] == ids[::-1][:2]
    assert (page["total"], page["total_pages"]) == (3, 2)
    assert none == {
        "items": [],
        "total": 0,
        "page": 1,
        "page_size": 20,
        "total_pages": 0,
    }


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"dataset": "no-such-dataset"}, 404, "NOT_FOUND"),
        ({"providers": [{"provider": "nobody", "model": "m"}]}, 400, "BAD_REQUEST"),
        (
            {"providers": [{"provider": "openai", "model": "gpt-4o"}]},
            400,
            "BAD_REQUEST",
        ),
    ],
)
def test_a_benchmark_that_cannot_run_is_refused_up_front(
    mmlu_server: Server, overrides: dict, status: int, code: str
) -> None:
    body = {
        "name": "refused",
        "providers": [{"provider": "fake", "model": FAKE_MODEL}],
        "dataset": "mmlu",
        "metrics": ["accuracy"],
        "iterations": 1,
    } | overrides

    response = mmlu_server.client.post(
        "/v1/benchmarks", headers=mmlu_server.auth, json=body
    )

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_a_regex_pattern_that_does_not_compile_is_refused_at_creation(
    mmlu_server: Server,
) -> None:
    body = {
        "name": "bad regex",
        "providers": [{"provider": "fake", "model": FAKE_MODEL}],
        "dataset": "mmlu",
        "metrics": ["regex"],
        "parameters": {"regex": {"pattern": "("}},
        "iterations": 1,
    }

    response = mmlu_server.client.post(
        "/v1/benchmarks", headers=mmlu_server.auth, json=body
    )
    listed = mmlu_server.client.get("/v1/benchmarks", headers=mmlu_server.auth)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (
        "parameters.regex.pattern is not a valid regular expression"
        in (error["message"])
    )
    assert error["details"]["field"] == "parameters.regex.pattern"
    assert "bad regex" not in listed.text


def test_only_the_owner_or_an_admin_may_cancel(mmlu_server: Server) -> None:
    runtime = mmlu_server.client.app.app.extensions["ltb"]
    for name in ("owner", "other"):
        runtime.auth.create_user(name, f"{name}-password", "user")
    owner = mmlu_server.login("owner", "owner-password")
    other = mmlu_server.login("other", "other-password")
    body = {
        "name": "mine",
        "providers": [{"provider": "fake", "model": FAKE_MODEL}],
        "dataset": "mmlu",
        "metrics": ["accuracy"],
        "iterations": 285,
        "concurrency": 1,
    }
    created = mmlu_server.client.post("/v1/benchmarks", headers=owner, json=body).json()
    path = f"/v1/benchmarks/{created['benchmark_id']}/cancel"

    assert mmlu_server.client.post(path, headers=other).status_code == 403
    assert mmlu_server.client.post(path, headers=owner).status_code == 200


def test_results_of_an_unknown_benchmark_are_a_404(server: Server) -> None:
    response = server.client.get("/v1/benchmarks/nope/results", headers=server.auth)

    assert response.status_code == 404


def test_an_empty_completion_is_a_wrong_answer_not_an_error(
    make_server: Callable[..., Server], datasets_dir: Path
) -> None:
    server = make_server(reply=lambda prompt: None)
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))

    created = start_benchmark(
        server, providers=[{"provider": "fake", "model": FAKE_MODEL}], iterations=5
    )
    final = wait_for(server, created["benchmark_id"])[-1]
    cells = all_cells(server, created["benchmark_id"])

    assert final["status"] == "completed"
    assert final["results"]["targets"][0]["errors"] == 0
    assert final["results"]["targets"][0]["accuracy"] == 0.0
    assert {(c["output"], c["extracted"], c["finish_reason"]) for c in cells} == {
        ("", None, "length")
    }


def test_a_provider_sending_garbage_costs_its_cells_not_the_benchmark(
    make_server: Callable[..., Server], datasets_dir: Path
) -> None:
    server = make_server(garbage_for_models=frozenset({"broken-model"}))
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))

    created = start_benchmark(
        server,
        providers=[
            {"provider": "fake", "model": FAKE_MODEL},
            {"provider": "fake", "model": "broken-model"},
        ],
        iterations=6,
    )
    final = wait_for(server, created["benchmark_id"])[-1]
    good, broken = final["results"]["targets"]
    cells = all_cells(server, created["benchmark_id"])

    assert final["status"] == "completed"
    assert (good["items"], good["errors"]) == (6, 0)
    assert (broken["items"], broken["errors"], broken["accuracy"]) == (6, 6, 0.0)
    assert {c["error"] for c in cells if c["target_index"] == 1} == {
        "Provider 'fake' sent an unusable response: JSONDecodeError"
    }


def test_a_benchmark_name_with_control_characters_is_refused(
    mmlu_server: Server,
) -> None:
    response = mmlu_server.client.post(
        "/v1/benchmarks",
        headers=mmlu_server.auth,
        json={
            "name": "line one\nline two",
            "providers": [{"provider": "fake", "model": FAKE_MODEL}],
            "dataset": "mmlu",
            "metrics": ["accuracy"],
            "iterations": 1,
        },
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"]["errors"][0]["field"] == "name"


def test_results_wait_for_a_write_still_in_flight_when_the_cells_finish(
    make_server: Callable[..., Server],
    datasets_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first write of each benchmark is slow, so it is still in flight when the
    # last cell finishes and the final flush (fast) is done: the results must
    # still count every cell (they once missed the cells of that first write).
    original = BenchmarkEngine._write_cells
    writes: dict[str, int] = {}

    def slow_write(
        self: BenchmarkEngine, plan: Any, batch: list[dict[str, Any]]
    ) -> int:
        benchmark_id = batch[0]["benchmark_id"]
        writes[benchmark_id] = writes.get(benchmark_id, 0) + 1
        if writes[benchmark_id] == 1:
            time.sleep(1.0)
        return original(self, plan, batch)

    monkeypatch.setattr(BenchmarkEngine, "_write_cells", slow_write)
    # 20 cells of 50 ms at concurrency 2 end at about 0.5 s, during the write
    # that the flush at 0.25 s started.
    server = make_server(delay_s=0.05)
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))

    for _ in range(3):
        created = start_benchmark(server, iterations=10, concurrency=2)
        final = wait_for(server, created["benchmark_id"])[-1]

        assert final["progress"] == 1.0
        assert [t["items"] for t in final["results"]["targets"]] == [10, 10]


@pytest.mark.parametrize(
    ("change", "details"),
    [
        # Both unconfigured targets in one answer; the configured one is not named.
        (
            {
                "providers": [
                    {"provider": "openai", "model": "gpt-4o-mini"},
                    {"provider": "fake", "model": FAKE_MODEL},
                    {"provider": "anthropic", "model": "claude-haiku"},
                ]
            },
            {"providers": {"0": "openai", "2": "anthropic"}},
        ),
        # An unconfigured judge is named with the unconfigured targets.
        (
            {
                "providers": [{"provider": "openai", "model": "gpt-4o-mini"}],
                "judge": {"provider": "anthropic", "model": "claude-haiku"},
                "metrics": ["accuracy", "relevance"],
            },
            {"providers": {"0": "openai"}, "judge": "anthropic"},
        ),
    ],
    ids=["targets", "judge"],
)
def test_a_refusal_for_keys_not_set_names_every_provider_that_needs_one(
    mmlu_server: Server, change: dict[str, Any], details: dict[str, Any]
) -> None:
    # The built-in providers need OPENAI_API_KEY and ANTHROPIC_API_KEY, which tox
    # empties.
    body = {
        "name": "keys",
        "dataset": "mmlu",
        "metrics": ["accuracy"],
        "iterations": 1,
    } | change

    response = mmlu_server.client.post(
        "/v1/benchmarks", headers=mmlu_server.auth, json=body
    )

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"] == (
        "Providers not configured: 'openai' (set OPENAI_API_KEY), "
        "'anthropic' (set ANTHROPIC_API_KEY)"
    )
    assert error["details"] == details


@pytest.mark.parametrize("path", ["results", "export"])
def test_a_target_index_the_benchmark_lacks_is_a_404(
    mmlu_server: Server, path: str
) -> None:
    created = start_benchmark(mmlu_server, iterations=2)  # targets 0 and 1
    wait_for(mmlu_server, created["benchmark_id"])

    url = f"/v1/benchmarks/{created['benchmark_id']}/{path}?target="
    last = mmlu_server.client.get(url + "1", headers=mmlu_server.auth)
    beyond = mmlu_server.client.get(url + "2", headers=mmlu_server.auth)

    assert last.status_code == 200
    assert beyond.status_code == 404
    assert beyond.json()["error"] == {
        "code": "NOT_FOUND",
        "message": f"Benchmark '{created['benchmark_id']}' has no target 2: its "
        "targets are 0 to 1",
        "details": {"target": 2, "targets": 2},
    }


def test_a_target_whose_provider_reports_no_usage_has_an_unknown_cost(
    mmlu_server: Server,
) -> None:
    # The model is priced, but 0 tokens counted for want of usage would cost $0:
    # the cheapest target, alone on the accuracy/cost frontier.
    mmlu_server.provider.no_usage_for_models = frozenset({FAKE_MODEL})
    created = start_benchmark(
        mmlu_server, providers=[{"provider": "fake", "model": FAKE_MODEL}], iterations=5
    )

    final = wait_for(mmlu_server, created["benchmark_id"])[-1]

    assert final["status"] == "completed"
    (target,) = final["results"]["targets"]
    assert target["accuracy"] is not None
    assert target["cost_usd"] is None
    assert final["results"]["frontier"]["accuracy_cost"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {
                "providers": [{"provider": "fake", "model": FAKE_MODEL}] * 2
                + [{"provider": "nobody", "model": "m"}]
            },
            "providers.2.provider",
        ),
        (
            {"judge": {"provider": "nobody", "model": "m"}, "metrics": ["relevance"]},
            "judge.provider",
        ),
    ],
)
def test_an_unknown_provider_is_named_with_its_field(
    mmlu_server: Server, change: dict[str, Any], field: str
) -> None:
    body = {
        "name": "unknown",
        "providers": [{"provider": "fake", "model": FAKE_MODEL}],
        "dataset": "mmlu",
        "metrics": ["accuracy"],
        "iterations": 1,
    } | change

    response = mmlu_server.client.post(
        "/v1/benchmarks", headers=mmlu_server.auth, json=body
    )

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"].startswith("Unknown provider 'nobody'; known providers: ")
    assert error["details"]["errors"] == [
        {"field": field, "message": "is not a configured provider"}
    ]
