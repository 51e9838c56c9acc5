"""Benchmark results and comparisons computed from cells, checked by hand and SciPy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from app.benchmarks.aggregate import CellFigures, benchmark_results, pareto, table_of
from app.benchmarks.comparison import compare
from app.benchmarks.export import csv_safe
from tests.unit.benchmarks.test_inference import assert_like_scipys_paired_bootstrap

TARGETS = [{"provider": "fake", "model": f"m{i}"} for i in range(3)]


def cell(
    target: int,
    position: int,
    correct: bool,
    repeat: int = 0,
    latency: float | None = 100.0,
    cost: float | None = 0.001,
    error: str | None = None,
    metrics: dict[str, float | None] | None = None,
    completion_tokens: int = 5,
) -> CellFigures:
    return CellFigures(
        target,
        position,
        repeat,
        correct,
        error,
        latency,
        10,
        completion_tokens,
        cost,
        metrics,
    )


def results_of(cells: list[CellFigures], targets: int = 1, **kw: Any) -> dict[str, Any]:
    positions = sorted({c.item_position for c in cells})
    names = kw.pop("metrics", ())
    table = table_of(targets, positions, cells, names)
    return benchmark_results(
        TARGETS[:targets], table, seed=kw.get("seed", 0), repeats=kw.get("repeats", 1)
    )


def test_accuracy_has_its_wilson_interval_and_n_beside_it() -> None:
    cells = [cell(0, p, correct=p % 3 != 0) for p in range(45)]  # 30 of 45

    [target] = results_of(cells)["targets"]

    low, high = proportion_confint(30, 45, method="wilson")
    assert target["items"] == target["n_items"] == 45
    assert target["correct"] == 30
    assert target["accuracy_interval"] == {
        "low": pytest.approx(low),
        "high": pytest.approx(high),
        "level": 0.95,
        "method": "wilson",
    }
    assert target["small_sample"] is False


def test_with_repeats_accuracy_has_an_item_bootstrap_interval_and_n_items() -> None:
    # 40 items x 3 repeats; an item's repeats mostly agree, as a model's do.
    rng = np.random.default_rng(6)
    verdicts = rng.random((40, 1)) < 0.6
    flips = rng.random((40, 3)) < 0.1
    verdicts = verdicts ^ flips
    cells = [
        cell(0, p, bool(verdicts[p, r]), repeat=r) for p in range(40) for r in range(3)
    ]

    [target] = results_of(cells, repeats=3)["targets"]

    interval = target["accuracy_interval"]
    assert (target["items"], target["n_items"]) == (120, 40)
    assert target["correct"] == int(verdicts.sum())
    assert interval["method"] == "bootstrap"
    assert interval["level"] == 0.95
    assert interval["resamples"] == 2000
    # Every item has all 3 repeats, so resampling items with their repeats is
    # the percentile bootstrap of the per-item accuracies.
    assert_like_scipys_percentile_bootstrap(
        (interval["low"], interval["high"]), verdicts.mean(axis=1)
    )
    assert target["small_sample"] is False  # 40 items, not 120 cells


def repeated_cells(verdicts: np.ndarray) -> list[CellFigures]:
    """One target's cells: verdicts[item, repeat] for items 0..n-1."""
    items, repeats = verdicts.shape
    return [
        cell(0, p, bool(verdicts[p, r]), repeat=r)
        for p in range(items)
        for r in range(repeats)
    ]


@pytest.mark.parametrize(
    ("correct", "expected"),
    [
        (False, (0.0, 0.08762160119728668)),  # 0 of 40 items
        (True, (0.9123783988027134, 1.0)),  # 40 of 40 items
    ],
)
def test_items_that_all_agree_get_wilson_over_the_items_not_a_point(
    correct: bool, expected: tuple[float, float]
) -> None:
    # 40 items x 2 repeats, every cell wrong (or every cell right): every
    # bootstrap resample has the same mean, and its percentile interval was the
    # point [0, 0] (or [1, 1]). Forty items cannot give that certainty: the
    # interval is Wilson's over the 40 items, not over the 80 cells, whose
    # repeats are not independent ([0, 0.046] would be as overconfident).
    verdicts = np.full((40, 2), correct)

    [target] = results_of(repeated_cells(verdicts), repeats=2)["targets"]

    successes = 40 if correct else 0
    low, high = proportion_confint(successes, 40, alpha=0.05, method="wilson")
    assert (low, high) == pytest.approx(expected)  # the values worked out once
    assert (target["items"], target["n_items"]) == (80, 40)
    assert target["correct"] == 2 * successes
    assert target["accuracy_interval"] == {
        "low": pytest.approx(low, abs=1e-12),
        "high": pytest.approx(high, abs=1e-12),
        "level": 0.95,
        "method": "wilson_items",
    }
    assert target["accuracy_interval"]["low"] < target["accuracy_interval"]["high"]


def test_items_with_the_same_share_of_right_repeats_get_wilson_over_the_items() -> None:
    # Every item right in exactly one of its 2 repeats: each item's accuracy is
    # 0.5, so every resample's mean is 0.5 too. Wilson over 40 items at 0.5.
    verdicts = np.tile([True, False], (40, 1))

    [target] = results_of(repeated_cells(verdicts), repeats=2)["targets"]

    low, high = proportion_confint(20, 40, alpha=0.05, method="wilson")
    assert target["accuracy_interval"] == {
        "low": pytest.approx(low, abs=1e-12),
        "high": pytest.approx(high, abs=1e-12),
        "level": 0.95,
        "method": "wilson_items",
    }


def test_items_that_differ_keep_the_item_bootstrap_interval_unchanged() -> None:
    # 40 items x 2 repeats, 10 items right both times, 4 right once, the rest
    # wrong: the bootstrap varies, so its interval stands as before.
    verdicts = np.zeros((40, 2), dtype=bool)
    verdicts[:10] = True
    verdicts[10:14, 0] = True
    seed = 3

    [target] = results_of(repeated_cells(verdicts), repeats=2, seed=seed)["targets"]

    # The percentile bootstrap redone by hand: the benchmark's generator for
    # "means" (seed, then the purpose's first 8 bytes as a little-endian
    # integer), one (resamples x items) draw of item indexes, each replicate
    # the mean of its items' accuracies, the 2.5th and 97.5th percentiles.
    tag = int.from_bytes(b"means\0\0\0", "little")
    rng = np.random.default_rng(np.random.SeedSequence([seed, tag]))
    drawn = rng.integers(0, 40, size=(2000, 40), dtype=np.int32)
    replicates = verdicts.mean(axis=1)[drawn].mean(axis=1)
    low, high = np.quantile(replicates, [0.025, 0.975])
    assert low < high
    assert target["accuracy_interval"] == {
        "low": pytest.approx(float(low), abs=1e-12),
        "high": pytest.approx(float(high), abs=1e-12),
        "level": 0.95,
        "method": "bootstrap",
        "resamples": 2000,
    }


def assert_like_scipys_percentile_bootstrap(
    interval: tuple[float, float], values: np.ndarray
) -> None:
    """Equal, within a tenth of its width, to SciPy's percentile bootstrap."""
    reference = stats.bootstrap(
        (values,), np.mean, n_resamples=20000, method="percentile", random_state=1
    ).confidence_interval
    width = reference.high - reference.low
    assert interval[0] == pytest.approx(reference.low, abs=0.1 * width)
    assert interval[1] == pytest.approx(reference.high, abs=0.1 * width)


def test_repeats_that_always_agree_widen_the_interval_to_keep_its_coverage() -> None:
    # 400 simulated benchmarks (one target each, aggregated in one call) of 60
    # items x 3 repeats, true accuracy 0.7, every repeat giving its item's
    # verdict again: there are 60 observations, not 180. Wilson over the 180
    # cells is about sqrt(3) too narrow and covers ~74%; the item bootstrap
    # should cover about 95% (percentile intervals run a little short at
    # n = 60; the rate's standard error over 400 trials is about 1.1 points).
    rng = np.random.default_rng(31)
    trials, items, repeats, true_accuracy = 400, 60, 3, 0.7
    verdicts = rng.random((trials, items)) < true_accuracy
    cells = [
        cell(t, p, bool(verdicts[t, p]), repeat=r)
        for t in range(trials)
        for p in range(items)
        for r in range(repeats)
    ]
    targets = [{"provider": "fake", "model": f"trial{t}"} for t in range(trials)]
    table = table_of(trials, range(items), cells)

    views = benchmark_results(targets, table, seed=4, repeats=repeats)["targets"]

    wilson = [
        proportion_confint(v["correct"], v["items"], method="wilson") for v in views
    ]
    bootstrap = [
        (v["accuracy_interval"]["low"], v["accuracy_interval"]["high"]) for v in views
    ]
    assert all(v["accuracy_interval"]["method"] == "bootstrap" for v in views)
    assert all(v["n_items"] == items for v in views)
    for (b_low, b_high), (w_low, w_high) in zip(bootstrap, wilson, strict=True):
        assert b_high - b_low > w_high - w_low
    covered = sum(low <= true_accuracy <= high for low, high in bootstrap)
    naive = sum(low <= true_accuracy <= high for low, high in wilson)
    assert 0.90 <= covered / trials <= 0.98
    assert naive / trials < 0.85


def test_errors_count_as_wrong_and_leave_latency_and_metrics_out() -> None:
    cells = [
        cell(0, 0, True, latency=100.0, metrics={"bleu": 0.5}),
        cell(0, 1, False, latency=300.0, metrics={"bleu": 0.1}),
        cell(0, 2, False, latency=None, cost=None, error="boom", metrics=None),
    ]

    [target] = results_of(cells, metrics=["bleu"])["targets"]

    assert (target["items"], target["errors"], target["correct"]) == (3, 1, 1)
    assert target["latency_ms"]["n"] == 2
    assert target["latency_ms"]["mean"] == 200.0
    low_high = target["latency_ms"]["mean_interval"]
    assert 100.0 <= low_high["low"] <= low_high["high"] <= 300.0
    assert target["metrics"] == {"bleu": pytest.approx(0.3)}
    assert target["metric_intervals"]["bleu"]["n"] == 2
    assert target["metric_intervals"]["bleu"]["mean"] == pytest.approx(0.3)
    # The error cell has no cost: the target is still priced by its other cells.
    assert target["cost_usd"] == pytest.approx(0.002)
    assert target["cost_per_correct_usd"] == pytest.approx(0.002)
    assert target["small_sample"] is True


def test_cost_per_correct_is_null_when_unpriced_or_nothing_is_correct() -> None:
    unpriced = results_of([cell(0, 0, True, cost=None)])["targets"][0]
    none_right = results_of([cell(0, 0, False)])["targets"][0]

    assert unpriced["cost_usd"] is None
    assert unpriced["cost_per_correct_usd"] is None
    assert none_right["cost_per_correct_usd"] is None


def test_tokens_per_second_are_completion_tokens_over_latency_seconds() -> None:
    cells = [
        cell(0, 0, True, latency=500.0, completion_tokens=10),
        cell(0, 1, True, latency=1500.0, completion_tokens=30),
        # An error's tokens and time are not generation speed.
        cell(0, 2, False, latency=None, error="x", completion_tokens=0),
    ]

    [target] = results_of(cells)["targets"]

    assert target["tokens_per_second"] == pytest.approx(40 / 2.0)


def test_no_latency_gives_no_speed_and_no_intervals() -> None:
    [target] = results_of([cell(0, 0, False, latency=None, error="x")])["targets"]

    assert target["tokens_per_second"] is None
    assert target["latency_ms"]["mean_interval"] is None
    assert target["latency_ms"]["n"] == 0


def test_repeats_flag_items_whose_verdict_changes() -> None:
    verdicts = {0: [1, 1, 1], 1: [1, 0, 1], 2: [0, 0, 0], 3: [0, 0, 1]}
    cells = [
        cell(0, position, bool(v), repeat=r)
        for position, vs in verdicts.items()
        for r, v in enumerate(vs)
    ]

    [target] = results_of(cells, repeats=3)["targets"]

    stats_ = target["repeat_stats"]
    assert stats_["unstable_items"] == 2
    assert stats_["unstable_item_positions"] == [1, 3]
    # Per item p(1-p): 0, 2/9, 0, 2/9.
    assert stats_["mean_item_variance"] == pytest.approx((2 / 9 + 2 / 9) / 4)


def test_a_single_repeat_has_no_repeat_stats() -> None:
    assert results_of([cell(0, 0, True)])["targets"][0]["repeat_stats"] is None


def test_results_are_reproducible_from_the_seed() -> None:
    rng = np.random.default_rng(1)
    cells = [cell(0, p, True, latency=float(rng.exponential(200))) for p in range(50)]

    first = results_of(cells, seed=3)
    assert first == results_of(cells, seed=3)
    assert first != results_of(cells, seed=4)
    assert first["statistics"] == {"level": 0.95, "resamples": 2000, "seed": 3}


def test_pareto_keeps_targets_no_other_beats_best_first() -> None:
    points = [
        (0, 0.9, 10.0),  # most accurate
        (1, 0.8, 2.0),  # cheaper, less accurate: kept
        (2, 0.7, 5.0),  # beaten by 1 on both
        (3, 0.8, 2.0),  # ties 1 exactly: neither beats the other
        (4, None, 1.0),  # unknown accuracy: left out
        (5, 0.95, None),  # unpriced: left out
    ]

    assert pareto(points) == [0, 1, 3]


def test_frontier_uses_cost_and_median_latency() -> None:
    cells = [
        *(cell(0, p, True, latency=900.0, cost=0.01) for p in range(4)),
        *(cell(1, p, p < 2, latency=100.0, cost=0.001) for p in range(4)),
        *(cell(2, p, p < 1, latency=500.0, cost=None) for p in range(4)),
    ]

    frontier = results_of(cells, targets=3)["frontier"]

    assert frontier == {"accuracy_cost": [0, 1], "accuracy_latency": [0, 1]}


def paired_cells(
    verdicts: list[list[int]], latencies: list[list[float]] | None = None
) -> list[CellFigures]:
    return [
        cell(
            t,
            p,
            bool(v),
            latency=latencies[t][p] if latencies else 100.0,
            metrics={"score": float(v)},
        )
        for t, vs in enumerate(verdicts)
        for p, v in enumerate(vs)
    ]


def test_comparison_matches_scipy_for_mcnemar_and_the_paired_tests() -> None:
    rng = np.random.default_rng(12)
    a = (rng.random(60) < 0.8).astype(int)
    b = (rng.random(60) < 0.55).astype(int)
    latency_a = rng.normal(400, 50, 60)
    latency_b = latency_a + 30 + rng.normal(0, 20, 60)
    cells = paired_cells([list(a), list(b)], [list(latency_a), list(latency_b)])
    table = table_of(2, list(range(60)), cells, ["score"])

    comparison = compare("bm", "completed", TARGETS[:2], table, seed=5)

    [pair] = comparison["pairs"]
    a_only = int(((a == 1) & (b == 0)).sum())
    b_only = int(((a == 0) & (b == 1)).sum())
    accuracy = pair["accuracy"]
    assert (accuracy["a_only_correct"], accuracy["b_only_correct"]) == (a_only, b_only)
    assert accuracy["p_value"] == pytest.approx(
        stats.binomtest(a_only, a_only + b_only, 0.5).pvalue
    )
    assert accuracy["difference"] == pytest.approx(a.mean() - b.mean())
    assert (
        accuracy["interval"]["low"]
        < accuracy["difference"]
        < accuracy["interval"]["high"]
    )
    # Two targets: Holm leaves a single test's p-value alone.
    assert accuracy["p_value_holm"] == accuracy["p_value"]

    latency = pair["latency_ms"]
    assert latency["difference"] == pytest.approx((latency_a - latency_b).mean())
    interval = (latency["interval"]["low"], latency["interval"]["high"])
    assert_like_scipys_paired_bootstrap(interval, latency_a, latency_b)
    assert latency["p_value"] < 0.01  # a 30 ms shift over 60 items is clear
    assert pair["metrics"]["score"]["difference"] == pytest.approx(a.mean() - b.mean())
    assert pair["small_sample"] is False
    assert comparison["items_compared"] == 60


def test_more_than_two_targets_get_holm_adjusted_p_values_and_a_ranking() -> None:
    rng = np.random.default_rng(4)
    verdicts = [(rng.random(80) < p).astype(int) for p in (0.9, 0.5, 0.85)]
    table = table_of(3, list(range(80)), paired_cells([list(v) for v in verdicts]), [])

    comparison = compare("bm", "completed", TARGETS, table, seed=0)

    raw = [pair["accuracy"]["p_value"] for pair in comparison["pairs"]]
    expected = multipletests(raw, method="holm")[1]
    assert [
        p["accuracy"]["p_value_holm"] for p in comparison["pairs"]
    ] == pytest.approx(list(expected))
    significant = {
        (p["a"], p["b"])
        for p in comparison["pairs"]
        if p["accuracy"]["p_value_holm"] < 0.05
    }
    order = comparison["ranking"]["order"]
    accuracies = [v.mean() for v in verdicts]
    assert [o["target_index"] for o in order] == sorted(
        range(3), key=lambda t: -accuracies[t]
    )
    for entry in order:
        t = entry["target_index"]
        better = [
            u
            for u in range(3)
            if accuracies[u] > accuracies[t] and (min(u, t), max(u, t)) in significant
        ]
        assert entry["rank"] == 1 + len(better)
        assert entry["tied_with"] == [
            u for u in range(3) if u != t and (min(u, t), max(u, t)) not in significant
        ]


def test_a_small_sample_is_flagged_and_ties_in_the_ranking() -> None:
    table = table_of(2, list(range(6)), paired_cells([[1] * 6, [0] * 6]), [])

    comparison = compare("bm", "running", TARGETS[:2], table, seed=0)

    [pair] = comparison["pairs"]
    assert pair["small_sample"] is True
    # 6 of 6 discordant one way: p = 2 / 2^6. Significant, yet so few items
    # that the flag and the notes say to read the interval instead.
    assert pair["accuracy"]["p_value"] == pytest.approx(2 / 2**6)
    assert any("only 6 paired items" in note for note in pair["notes"])
    assert any("little power" in note for note in pair["notes"])
    assert any("running" in note for note in pair["notes"])
    assert comparison["complete"] is False


def test_pairs_use_only_items_both_targets_answered() -> None:
    cells = [cell(0, p, True) for p in range(10)] + [
        cell(1, p, False) for p in range(4)
    ]
    table = table_of(2, list(range(10)), cells, [])

    [pair] = compare("bm", "completed", TARGETS[:2], table, seed=0)["pairs"]

    assert pair["n"] == 4
    assert pair["accuracy"]["a_only_correct"] == 4
    assert pair["latency_ms"]["n"] == 4


def test_an_unpriced_target_has_no_cost_comparison_and_says_why() -> None:
    cells = [cell(0, p, True) for p in range(5)] + [
        cell(1, p, True, cost=None) for p in range(5)
    ]
    table = table_of(2, list(range(5)), cells, [])

    [pair] = compare("bm", "completed", TARGETS[:2], table, seed=0)["pairs"]

    assert pair["cost_usd"] is None
    assert "cost_usd: target 1 has no price" in pair["notes"]


def test_a_target_whose_every_cell_failed_has_no_cost_comparison_for_that() -> None:
    cells = [cell(0, p, True) for p in range(5)] + [
        cell(1, p, False, latency=None, error="timeout") for p in range(5)
    ]
    table = table_of(2, list(range(5)), cells, [])

    [pair] = compare("bm", "completed", TARGETS[:2], table, seed=0)["pairs"]

    assert pair["cost_usd"] is None
    assert "cost_usd: target 1 has no answered cell" in pair["notes"]
    assert not any("has no price" in note for note in pair["notes"])


def test_no_cells_compare_to_empty_pairs_without_failing() -> None:
    table = table_of(2, [0, 1], [], [])

    comparison = compare("bm", "pending", TARGETS[:2], table, seed=0)

    [pair] = comparison["pairs"]
    assert pair["n"] == 0
    assert pair["accuracy"] is None
    assert pair["latency_ms"] is None
    assert [o["rank"] for o in comparison["ranking"]["order"]] == [1, 1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Answer: B", "Answer: B"),
        ("", ""),
        (-5.0, -5.0),  # numbers stay numbers
        (3, 3),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(
    value: object, expected: object
) -> None:
    assert csv_safe(value) == expected
