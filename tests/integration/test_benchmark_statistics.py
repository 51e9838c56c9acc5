"""Results people can trust, through the API: intervals, comparison, export, manifest.

The fake model answers at random (seeded), so targets and repeats disagree; every
figure the server gives is recomputed here from the stored cells (GET .../results)
with SciPy and statsmodels.
"""

from __future__ import annotations

import csv
import io
import json
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sqlalchemy import create_engine, select, update
from statsmodels.stats.multitest import multipletests

from app import __version__
from app.benchmarks.export import EXPORT_COLUMNS
from app.store.models import Benchmark
from tests.integration.conftest import FAKE_MODEL, Server
from tests.integration.test_benchmark_metrics import garbled_relevance, judged_benchmark
from tests.integration.test_benchmarks import all_cells, start_benchmark, wait_for
from tests.integration.test_datasets import mmlu_dev_files, upload
from tests.integration.test_graphql import data_of
from tests.unit.benchmarks.test_results import assert_like_scipys_percentile_bootstrap

# Each target asks the same fake model; its parameters only tell them apart.
THREE_TARGETS = [
    {"provider": "fake", "model": FAKE_MODEL},
    {"provider": "fake", "model": FAKE_MODEL, "parameters": {"max_tokens": 8}},
    {"provider": "fake", "model": FAKE_MODEL, "parameters": {"temperature": 0.5}},
]
# A reply a spreadsheet would run as a formula, if an export let it.
FORMULA_REPLY = '=HYPERLINK("http://127.0.0.1/x","Answer: C")'


def random_reply() -> Callable[[str], str]:
    """Seeded random answers: B, C or a formula-looking reply."""
    rng = random.Random(2024)
    lock = threading.Lock()

    def reply(_prompt: str) -> str:
        with lock:
            draw = rng.random()
        if draw < 0.55:
            return "Answer: B"
        if draw < 0.9:
            return "Answer: C"
        return FORMULA_REPLY

    return reply


@pytest.fixture
def random_server(make_server: Callable[..., Server], datasets_dir: Path) -> Server:
    server = make_server(reply=random_reply())
    response = upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    assert response.status_code == 201
    return server


@pytest.fixture
def finished(random_server: Server) -> tuple[Server, dict[str, Any], list[dict]]:
    """A completed 3-target, 2-repeat benchmark and its stored cells."""
    created = start_benchmark(
        random_server, providers=THREE_TARGETS, iterations=40, repeats=2, seed=11
    )
    final = wait_for(random_server, created["benchmark_id"])[-1]
    assert final["status"] == "completed", final
    return random_server, final, all_cells(random_server, created["benchmark_id"])


def get(server: Server, path: str) -> Any:
    response = server.client.get(path, headers=server.auth)
    assert response.status_code == 200, response.text
    return response


def test_results_carry_intervals_repeat_stability_cost_and_speed(
    finished: tuple[Server, dict[str, Any], list[dict]],
) -> None:
    _, final, cells = finished

    for target in final["results"]["targets"]:
        mine = [c for c in cells if c["target_index"] == target["target_index"]]
        correct = sum(c["correct"] for c in mine)
        by_item: dict[int, list[bool]] = {}
        for c in mine:
            by_item.setdefault(c["item_position"], []).append(c["correct"])
        # 2 repeats of 40 items: 80 cells but 40 independent items, so the
        # interval is the item bootstrap (its repeats together), not Wilson on
        # 80 cells, which would be too narrow. Each item has both repeats: it
        # is SciPy's percentile bootstrap of the per-item accuracies.
        assert target["items"] == len(mine) == 80
        assert target["n_items"] == len(by_item) == 40
        interval = target["accuracy_interval"]
        assert (interval["method"], interval["resamples"]) == ("bootstrap", 2000)
        per_item = np.array([sum(vs) / len(vs) for vs in by_item.values()])
        assert_like_scipys_percentile_bootstrap(
            (interval["low"], interval["high"]), per_item
        )

        unstable = sorted(p for p, vs in by_item.items() if len(set(vs)) > 1)
        repeat_stats = target["repeat_stats"]
        assert repeat_stats["unstable_items"] == len(unstable)
        assert repeat_stats["unstable_item_positions"] == unstable

        latency = [c["latency_ms"] for c in mine]
        interval = target["latency_ms"]["mean_interval"]
        assert min(latency) <= interval["low"] <= interval["high"] <= max(latency)
        assert target["latency_ms"]["n"] == 80
        accuracy = target["metric_intervals"]["accuracy"]
        assert accuracy["n"] == 80
        assert accuracy["low"] <= accuracy["mean"] <= accuracy["high"]
        assert target["cost_per_correct_usd"] == pytest.approx(
            target["cost_usd"] / correct
        )
        seconds = sum(c["latency_ms"] for c in mine) / 1000
        completion = sum(c["completion_tokens"] for c in mine)
        assert target["tokens_per_second"] == pytest.approx(completion / seconds)

    statistics = final["results"]["statistics"]
    assert statistics == {"level": 0.95, "resamples": 2000, "seed": 11}
    frontier = final["results"]["frontier"]
    best = max(final["results"]["targets"], key=lambda t: t["accuracy"])
    assert frontier["accuracy_cost"][0] == best["target_index"]


def test_comparison_recomputed_from_the_cells_with_scipy(
    finished: tuple[Server, dict[str, Any], list[dict]],
) -> None:
    server, final, cells = finished

    comparison = get(
        server, f"/v1/benchmarks/{final['benchmark_id']}/comparison"
    ).json()

    verdict = {
        (c["target_index"], c["item_position"], c["repeat"]): c["correct"]
        for c in cells
    }
    positions = sorted({c["item_position"] for c in cells})
    assert comparison["complete"] is True
    assert comparison["items_compared"] == 40
    assert [(p["a"], p["b"]) for p in comparison["pairs"]] == [(0, 1), (0, 2), (1, 2)]
    raw = []
    for pair in comparison["pairs"]:
        a, b = pair["a"], pair["b"]
        a_only = sum(verdict[a, p, 0] and not verdict[b, p, 0] for p in positions)
        b_only = sum(verdict[b, p, 0] and not verdict[a, p, 0] for p in positions)
        accuracy = pair["accuracy"]
        assert (accuracy["a_only_correct"], accuracy["b_only_correct"]) == (
            a_only,
            b_only,
        )
        expected_p = (
            stats.binomtest(a_only, a_only + b_only, 0.5).pvalue
            if a_only + b_only
            else 1.0
        )
        assert accuracy["p_value"] == pytest.approx(expected_p)
        raw.append(accuracy["p_value"])
        mean = {
            t: sum(verdict[t, p, r] for p in positions for r in (0, 1)) / 80
            for t in (a, b)
        }
        assert accuracy["difference"] == pytest.approx(mean[a] - mean[b])
        low, high = accuracy["interval"]["low"], accuracy["interval"]["high"]
        assert low <= accuracy["difference"] <= high
        assert pair["n"] == 40
        assert pair["small_sample"] is False
        assert pair["latency_ms"]["n"] == 40
        assert 0 < pair["latency_ms"]["p_value"] <= 1

    holm = multipletests(raw, method="holm")[1]
    assert [p["accuracy"]["p_value_holm"] for p in comparison["pairs"]] == (
        pytest.approx(list(holm))
    )
    ranking = comparison["ranking"]
    assert ranking["criterion"] == "accuracy"
    accuracies = [t["accuracy"] for t in final["results"]["targets"]]
    assert [o["accuracy"] for o in ranking["order"]] == sorted(accuracies, reverse=True)


def test_comparison_is_reproducible_and_the_same_in_graphql(
    finished: tuple[Server, dict[str, Any], list[dict]],
) -> None:
    server, final, _ = finished
    path = f"/v1/benchmarks/{final['benchmark_id']}/comparison"

    first = get(server, path).json()
    again = get(server, path).json()
    data = data_of(
        server,
        """query($id: ID!) { benchmarkComparison(id: $id) {
             benchmarkId complete itemsCompared
             pairs { a b n smallSample notes
               accuracy { difference pValue pValueHolm aOnlyCorrect bOnlyCorrect
                          interval { low high } }
               latencyMs { difference pValue interval { low high } resamples }
               metrics { name test { difference pValue } } }
             ranking { criterion order { targetIndex rank tiedWith } } } }""",
        id=final["benchmark_id"],
    )["benchmarkComparison"]

    assert first == again
    assert data["itemsCompared"] == first["items_compared"]
    for mine, rest in zip(data["pairs"], first["pairs"], strict=True):
        assert mine["accuracy"]["pValue"] == rest["accuracy"]["p_value"]
        assert mine["accuracy"]["interval"] == rest["accuracy"]["interval"]
        assert mine["latencyMs"]["interval"] == rest["latency_ms"]["interval"]
        assert mine["notes"] == rest["notes"]
        assert {m["name"]: m["test"]["difference"] for m in mine["metrics"]} == {
            name: test["difference"] for name, test in rest["metrics"].items()
        }
    assert [o["rank"] for o in data["ranking"]["order"]] == [
        o["rank"] for o in first["ranking"]["order"]
    ]


def test_results_new_fields_are_in_graphql(
    finished: tuple[Server, dict[str, Any], list[dict]],
) -> None:
    server, final, _ = finished

    data = data_of(
        server,
        """query($id: ID!) { benchmark(id: $id) {
             frontier { accuracyCost accuracyLatency }
             resultStatistics { level resamples seed }
             results { items nItems accuracyInterval { low high method resamples }
                       costPerCorrectUsd
                       tokensPerSecond smallSample
                       latencyMs { meanInterval { low high } n }
                       repeatStats { unstableItems unstableItemPositions }
                       metricIntervals { name mean low high n } } } }""",
        id=final["benchmark_id"],
    )["benchmark"]

    results = final["results"]
    assert data["frontier"]["accuracyCost"] == results["frontier"]["accuracy_cost"]
    assert data["resultStatistics"]["seed"] == 11
    for mine, rest in zip(data["results"], results["targets"], strict=True):
        assert mine["accuracyInterval"]["low"] == rest["accuracy_interval"]["low"]
        assert mine["accuracyInterval"]["method"] == "bootstrap"
        assert mine["accuracyInterval"]["resamples"] == 2000
        assert (mine["items"], mine["nItems"]) == (rest["items"], rest["n_items"])
        assert mine["nItems"] == 40
        assert (
            mine["repeatStats"]["unstableItems"]
            == (rest["repeat_stats"]["unstable_items"])
        )
        assert (
            mine["metricIntervals"][0]["n"] == rest["metric_intervals"]["accuracy"]["n"]
        )


def test_a_comparison_of_an_unknown_benchmark_is_a_404_in_the_envelope(
    random_server: Server,
) -> None:
    for suffix in ("comparison", "export", "manifest"):
        response = random_server.client.get(
            f"/v1/benchmarks/no-such-id/{suffix}", headers=random_server.auth
        )
        assert response.status_code == 404, suffix
        assert response.json()["error"]["code"] == "NOT_FOUND"


def export_rows(server: Server, benchmark_id: str, fmt: str, query: str = "") -> list:
    response = get(server, f"/v1/benchmarks/{benchmark_id}/export?format={fmt}{query}")
    assert f"benchmark-{benchmark_id}.{fmt}" in response.headers["content-disposition"]
    if fmt == "json":
        assert response.headers["content-type"].startswith("application/json")
        return list(response.json())
    if fmt == "jsonl":
        assert response.headers["content-type"].startswith("application/jsonl")
        return [json.loads(line) for line in response.text.splitlines()]
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_exports_hold_every_cell_in_each_format(
    finished: tuple[Server, dict[str, Any], list[dict]],
) -> None:
    server, final, cells = finished
    benchmark_id = final["benchmark_id"]

    for fmt in ("json", "jsonl"):
        rows = export_rows(server, benchmark_id, fmt)
        assert len(rows) == len(cells) == 240
        for row, c in zip(rows, cells, strict=True):
            assert list(row) == list(EXPORT_COLUMNS)
            for key in EXPORT_COLUMNS:
                # The export names the item's key as the results call it item_key.
                expected = c["item_key"] if key == "item_id" else c[key]
                assert row[key] == expected, (fmt, key)

    rows = export_rows(server, benchmark_id, "csv")
    assert len(rows) == 240
    for row, c in zip(rows, cells, strict=True):
        assert row["item_id"] == c["item_key"]
        assert row["correct"] == ("true" if c["correct"] else "false")
        assert float(row["latency_ms"]) == pytest.approx(c["latency_ms"])
        assert json.loads(row["metrics"]) == c["metrics"]
        if c["output"] == FORMULA_REPLY:
            assert row["output"] == "'" + FORMULA_REPLY
        else:
            assert row["output"] == c["output"]
    assert any(c["output"] == FORMULA_REPLY for c in cells)


def test_an_export_of_one_target_and_the_bad_format_refused(
    finished: tuple[Server, dict[str, Any], list[dict]],
) -> None:
    server, final, _ = finished
    benchmark_id = final["benchmark_id"]

    rows = export_rows(server, benchmark_id, "jsonl", "&target=2")
    refused = server.client.get(
        f"/v1/benchmarks/{benchmark_id}/export?format=xlsx", headers=server.auth
    )

    assert len(rows) == 80 and {r["target_index"] for r in rows} == {2}
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "BAD_REQUEST"


def test_the_manifest_names_what_reproduces_the_run(
    finished: tuple[Server, dict[str, Any], list[dict]],
) -> None:
    server, final, cells = finished

    manifest = get(server, f"/v1/benchmarks/{final['benchmark_id']}/manifest").json()
    evaluators = {
        e["name"]: e["version"]
        for e in get(server, "/v1/evaluators?page_size=100").json()["items"]
    }

    keys = {c["item_position"]: c["item_key"] for c in cells}
    assert manifest["dataset"] == final["dataset"]
    assert manifest["item_positions"] == sorted(keys)
    assert manifest["item_ids"] == [keys[p] for p in sorted(keys)]
    assert manifest["targets"] == final["providers"]
    assert (manifest["seed"], manifest["repeats"]) == (11, 2)
    assert manifest["server_version"] == __version__
    assert manifest["evaluators_recorded"] is True
    assert manifest["metrics"] == [
        {"name": n, "version": evaluators[n], "kind": "deterministic"}
        for n in ("accuracy", "latency", "cost")
    ]
    assert manifest["prompt_template"]["version"] == "1"
    assert "{question}" in manifest["prompt_template"]["text"]["choice"]


def test_a_running_benchmark_compares_and_exports_what_is_stored(
    make_server: Callable[..., Server], datasets_dir: Path
) -> None:
    server = make_server(delay_s=0.2)
    upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    created = start_benchmark(server, concurrency=1, iterations=200)
    benchmark_id = created["benchmark_id"]

    comparison = get(server, f"/v1/benchmarks/{benchmark_id}/comparison").json()
    exported = export_rows(server, benchmark_id, "jsonl")
    manifest = get(server, f"/v1/benchmarks/{benchmark_id}/manifest").json()
    server.client.post(f"/v1/benchmarks/{benchmark_id}/cancel", headers=server.auth)

    assert comparison["complete"] is False
    assert comparison["pairs"][0]["small_sample"] is True
    assert len(exported) < 400
    assert manifest["evaluators_recorded"] is False
    assert [m["name"] for m in manifest["metrics"]] == ["accuracy", "latency", "cost"]


def test_results_stored_by_an_earlier_version_are_recomputed_once(
    finished: tuple[Server, dict[str, Any], list[dict]],
) -> None:
    server, final, _ = finished
    benchmark_id = final["benchmark_id"]
    # What a server before intervals stored: per-target sums, nothing else.
    old_fields = ("target_index", "provider", "model", "items", "errors", "accuracy")
    old = {
        "targets": [{k: t[k] for k in old_fields} for t in final["results"]["targets"]]
    }
    engine = create_engine(server.settings.resolved_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(Benchmark)
                .where(Benchmark.id == benchmark_id)
                .values(results=old)
            )

        shown = get(server, f"/v1/benchmarks/{benchmark_id}").json()["results"]
        listed = get(server, "/v1/benchmarks").json()["items"]

        with engine.connect() as connection:
            saved = connection.scalar(
                select(Benchmark.results).where(Benchmark.id == benchmark_id)
            )
    finally:
        engine.dispose()

    # The same aggregation, seed and repeats as at completion: the same figures;
    # only which evaluator versions scored the cells is no longer known.
    assert shown == final["results"] | {"evaluators": []}
    assert saved == shown
    assert (
        next(b for b in listed if b["benchmark_id"] == benchmark_id)["results"] == shown
    )


def test_exports_carry_metric_reasons_and_finish_reason_as_results_do(
    make_server: Callable[..., Server], datasets_dir: Path
) -> None:
    server = make_server(reply=garbled_relevance)
    final = judged_benchmark(server, datasets_dir)
    cells = all_cells(server, final["benchmark_id"])
    reason = "the judge's reply held no JSON object (after one retry)"

    jsonl = export_rows(server, final["benchmark_id"], "jsonl")
    csv_rows = export_rows(server, final["benchmark_id"], "csv")

    assert len(jsonl) == len(csv_rows) == len(cells) == 6
    for row, text_row, c in zip(jsonl, csv_rows, cells, strict=True):
        # The relevance metric is null and the cell says why, in both places.
        assert c["metrics"]["relevance"] is None
        assert c["metric_reasons"] == {"relevance": reason}
        assert c["finish_reason"] == "stop"
        assert row["metrics"] == c["metrics"]
        assert row["metric_reasons"] == c["metric_reasons"]
        assert row["finish_reason"] == c["finish_reason"]
        assert json.loads(text_row["metrics"]) == c["metrics"]
        assert json.loads(text_row["metric_reasons"]) == c["metric_reasons"]
        assert text_row["finish_reason"] == c["finish_reason"]
