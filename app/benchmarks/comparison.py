"""Paired comparison of a benchmark's targets on the items they both answered.

REST (GET /v1/benchmarks/{id}/comparison) and GraphQL (benchmarkComparison) both
call ``compare_benchmark``, so the two always give the same figures.

Every target runs the same items, so differences are paired by item: the
accuracy difference gets McNemar's exact test (repeat 0's verdicts, which pair
one to one), and each metric, latency and cost gets a paired-bootstrap interval
of the mean difference and a paired sign-flip permutation test. Each pair's
p-values are Holm-adjusted within the family of all pairs for that quantity.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from sqlalchemy import func, select

from app.benchmarks.aggregate import SMALL_SAMPLE, CellTable, read_cell_table
from app.benchmarks.lifecycle import UNFINISHED, BenchmarkStatus
from app.benchmarks.statistics import (
    LEVEL,
    bootstrap_ratio_intervals,
    holm,
    mcnemar_exact,
    resamples_within,
    sign_flip_p_values,
)
from app.errors import NotFound
from app.store.database import Database
from app.store.models import Benchmark, BenchmarkCell

ALPHA = round(1 - LEVEL, 10)
# Below this many discordant items McNemar's test can hardly reject anything.
FEW_DISCORDANT = 10


@dataclass(frozen=True)
class _Paired:
    """One quantity of one pair: per-item differences where both have a value."""

    pair: int
    quantity: str
    a_means: np.ndarray
    b_means: np.ndarray
    present: np.ndarray


class _Cache:
    """The last comparisons made, by (benchmark, status, cells stored).

    A comparison depends only on the stored cells, which are never changed once
    written: for a benchmark that has ended, the same key always gives the same
    comparison, so it is computed once per process however often it is asked.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str, int], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, int]) -> dict[str, Any] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return None if found is None else copy.deepcopy(found)

    def put(self, key: tuple[str, str, int], comparison: dict[str, Any]) -> None:
        with self._lock:
            self._entries[key] = copy.deepcopy(comparison)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


_cache = _Cache(size=16)


def compare_benchmark(db: Database, benchmark_id: str) -> dict[str, Any]:
    """The comparison of a benchmark's targets, from the cells stored so far."""
    with db.session() as session:
        benchmark = session.get(Benchmark, benchmark_id)
        if benchmark is None:
            raise NotFound(f"Benchmark '{benchmark_id}' not found")
        stored = session.scalar(
            select(func.count()).where(BenchmarkCell.benchmark_id == benchmark_id)
        )
        key = (benchmark_id, str(benchmark.status), stored or 0)
        cached = _cache.get(key)
        if cached is not None:
            return cached
        table = read_cell_table(session, benchmark, benchmark.metrics)
        targets = list(benchmark.targets)
        seed = benchmark.seed
    comparison = compare(benchmark_id, key[1], targets, table, seed)
    if key[1] not in UNFINISHED:  # a running one may store cells as it is read
        _cache.put(key, comparison)
    return comparison


def compare(
    benchmark_id: str,
    status: str,
    targets: list[dict[str, Any]],
    table: CellTable,
    seed: int,
) -> dict[str, Any]:
    """Compare every pair of targets of a CellTable."""
    pairs = list(combinations(range(table.targets), 2))
    answered = table.cell_count > 0
    priced = [t.priced and t.items > t.errors for t in table.totals]

    paired = _paired_quantities(table, pairs, answered, priced)
    tests = _difference_tests(paired, table.items, seed)
    views = [
        _pair_view(table, number, a, b, answered, priced, tests, status)
        for number, (a, b) in enumerate(pairs)
    ]
    _adjust(views)
    return {
        "benchmark_id": benchmark_id,
        "status": status,
        "complete": status == BenchmarkStatus.COMPLETED,
        "level": LEVEL,
        "seed": seed,
        "items_compared": int(answered.all(axis=0).sum()) if table.targets else 0,
        "targets": [
            {"target_index": i, "provider": t["provider"], "model": t["model"]}
            for i, t in enumerate(targets)
        ],
        "pairs": views,
        "ranking": _ranking(table, views),
    }


def _item_means(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def _paired_quantities(
    table: CellTable,
    pairs: list[tuple[int, int]],
    answered: np.ndarray,
    priced: list[bool],
) -> list[_Paired]:
    """Per pair, the per-item means of each quantity where both have one."""
    quantities: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "accuracy": (table.correct_sum, table.cell_count),
        "latency_ms": (table.latency_sum, table.latency_count),
        "cost_usd": (table.cost_sum, table.cost_count),
    }
    for m, name in enumerate(table.metric_names):
        quantities[f"metric:{name}"] = (
            table.metric_sum[:, m],
            table.metric_count[:, m],
        )

    found = []
    for number, (a, b) in enumerate(pairs):
        for quantity, (sums, counts) in quantities.items():
            if quantity == "cost_usd" and not (priced[a] and priced[b]):
                continue
            present = (counts[a] > 0) & (counts[b] > 0)
            if quantity == "accuracy":
                present = answered[a] & answered[b]
            if not present.any():
                continue
            found.append(
                _Paired(
                    number,
                    quantity,
                    _item_means(sums[a], counts[a]),
                    _item_means(sums[b], counts[b]),
                    present.astype(np.float64),
                )
            )
    return found


def _difference_tests(
    paired: list[_Paired], items: int, seed: int
) -> dict[tuple[int, str], dict[str, Any]]:
    """Mean difference, paired-bootstrap interval and sign-flip p-value of each."""
    if not paired:
        return {}
    differences = np.stack([p.a_means - p.b_means for p in paired], axis=1)
    present = np.stack([p.present for p in paired], axis=1)
    resamples = resamples_within(items, len(paired))
    intervals = bootstrap_ratio_intervals(
        differences * present, present, seed, resamples, purpose="pairs"
    )
    p_values = sign_flip_p_values(differences, present, seed, resamples)

    tests = {}
    for q, p in enumerate(paired):
        n = float(p.present.sum())
        interval = intervals[q]
        assert interval is not None, "every paired quantity has a present item"
        tests[(p.pair, p.quantity)] = {
            "a": float((p.a_means * p.present).sum() / n),
            "b": float((p.b_means * p.present).sum() / n),
            "difference": float((differences[:, q] * p.present).sum() / n),
            "interval": {"low": interval[0], "high": interval[1]},
            "n": int(n),
            "p_value": p_values[q],
            "p_value_holm": p_values[q],
            "method": "paired_bootstrap",
            "resamples": resamples,
        }
    return tests


def _pair_view(
    table: CellTable,
    number: int,
    a: int,
    b: int,
    answered: np.ndarray,
    priced: list[bool],
    tests: dict[tuple[int, str], dict[str, Any]],
    status: str,
) -> dict[str, Any]:
    n = int((answered[a] & answered[b]).sum())
    notes = []
    accuracy = _accuracy(table, a, b, tests.get((number, "accuracy")))
    if n < SMALL_SAMPLE:
        notes.append(
            f"only {n} paired items (under {SMALL_SAMPLE}): intervals are wide and "
            "a difference that is not significant here may still be real"
        )
    if accuracy is not None:
        discordant = accuracy["a_only_correct"] + accuracy["b_only_correct"]
        if discordant < FEW_DISCORDANT:
            notes.append(
                f"only {discordant} items where exactly one target is correct: "
                "McNemar's test has little power"
            )
    for index in (a, b):
        if priced[index]:
            continue
        # Only an answered cell has a cost: with none, the price is not the cause.
        totals = table.totals[index]
        why = "has no answered cell" if totals.priced else "has no price"
        notes.append(f"cost_usd: target {index} {why}")
    if status != BenchmarkStatus.COMPLETED:
        notes.append(f"benchmark is {status}: compared on the cells stored so far")
    return {
        "a": a,
        "b": b,
        "n": n,
        "accuracy": accuracy,
        "metrics": {
            name: tests.get((number, f"metric:{name}")) for name in table.metric_names
        },
        "latency_ms": tests.get((number, "latency_ms")),
        "cost_usd": tests.get((number, "cost_usd")),
        "small_sample": n < SMALL_SAMPLE,
        "notes": notes,
    }


def _accuracy(
    table: CellTable, a: int, b: int, test: dict[str, Any] | None
) -> dict[str, Any] | None:
    if test is None:
        return None
    first_a, first_b = table.first_verdict[a], table.first_verdict[b]
    a_only = int(((first_a == 1) & (first_b == 0)).sum())
    b_only = int(((first_a == 0) & (first_b == 1)).sum())
    p_value = mcnemar_exact(a_only, b_only)
    return {
        "a": test["a"],
        "b": test["b"],
        "difference": test["difference"],
        "interval": test["interval"],
        "method": "mcnemar_exact",
        "a_only_correct": a_only,
        "b_only_correct": b_only,
        "p_value": p_value,
        "p_value_holm": p_value,
    }


def _adjust(views: list[dict[str, Any]]) -> None:
    """Holm-adjust each quantity's p-values over all pairs that have it."""
    families: dict[str, list[dict[str, Any]]] = {}
    for view in views:
        for key in ("accuracy", "latency_ms", "cost_usd"):
            if view[key] is not None:
                families.setdefault(key, []).append(view[key])
        for name, test in view["metrics"].items():
            if test is not None:
                families.setdefault(f"metric:{name}", []).append(test)
    for tests in families.values():
        adjusted = holm([t["p_value"] for t in tests])
        for test, p in zip(tests, adjusted, strict=True):
            test["p_value_holm"] = p


def _ranking(table: CellTable, views: list[dict[str, Any]]) -> dict[str, Any]:
    """Targets by accuracy; only significant differences separate ranks."""
    accuracy = [t.correct / t.items if t.items else None for t in table.totals]
    significant: set[tuple[int, int]] = set()
    for view in views:
        test = view["accuracy"]
        if test is not None and test["p_value_holm"] < ALPHA:
            significant.add((view["a"], view["b"]))
            significant.add((view["b"], view["a"]))

    def better(u: int, t: int) -> bool:
        return (
            (u, t) in significant
            and accuracy[u] is not None
            and (accuracy[t] is None or accuracy[u] > accuracy[t])  # type: ignore[operator]
        )

    indexes = range(table.targets)
    order = sorted(indexes, key=lambda t: (accuracy[t] is None, -(accuracy[t] or 0), t))
    return {
        "criterion": "accuracy",
        "test": "mcnemar_exact",
        "adjustment": "holm",
        "alpha": ALPHA,
        "order": [
            {
                "target_index": t,
                "rank": 1 + sum(better(u, t) for u in indexes),
                "accuracy": accuracy[t],
                "tied_with": [
                    u for u in indexes if u != t and (u, t) not in significant
                ],
            }
            for t in order
        ],
    }
