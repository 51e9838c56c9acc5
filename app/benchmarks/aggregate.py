"""Per-target aggregates of a benchmark, computed from its stored cells.

Cells are read once, in pages, into per-item sums (a ``CellTable``): memory grows
with targets x items x quantities, never with the cells' texts, and every figure
(accuracy with its Wilson interval, or with repeats an item-level bootstrap one
that falls back to Wilson over the items where the bootstrap is a point,
metric and latency means with bootstrap intervals, repeat stability, cost and
speed) is computed from those sums.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.benchmarks.statistics import (
    LEVEL,
    STORED_BUDGET,
    bootstrap_ratio_intervals,
    latency_summary,
    resamples_within,
    wilson_interval,
)
from app.store.models import Benchmark, BenchmarkCell

# Below this many cells a target's figures are flagged: read the intervals.
SMALL_SAMPLE = 30
# Unstable items listed by position in repeat_stats; the count is always whole.
UNSTABLE_POSITIONS_LISTED = 100
# Rows fetched from the database at a time while building a CellTable.
READ_PAGE = 2000
# A bootstrap interval no wider than this is a point: every resample agreed.
DEGENERATE_WIDTH = 1e-12


@dataclass(frozen=True)
class CellFigures:
    """The figures of one stored cell that aggregates are made of."""

    target_index: int
    item_position: int
    repeat: int
    correct: bool
    error: str | None
    latency_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    # The cell's value of each benchmark metric; None for a cell with an error.
    metrics: dict[str, float | None] | None = None
    # What the judge calls of the cell's judged metrics consumed (JudgeUsage).
    judge_usage: dict[str, Any] | None = None


# The columns of BenchmarkCell that CellFigures is made of, in its field order.
CELL_FIGURE_COLUMNS = (
    BenchmarkCell.target_index,
    BenchmarkCell.item_position,
    BenchmarkCell.repeat,
    BenchmarkCell.correct,
    BenchmarkCell.error,
    BenchmarkCell.latency_ms,
    BenchmarkCell.prompt_tokens,
    BenchmarkCell.completion_tokens,
    BenchmarkCell.cost_usd,
    BenchmarkCell.metrics,
    BenchmarkCell.judge_usage,
)


@dataclass
class _TargetTotals:
    items: int = 0
    errors: int = 0
    correct: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Completion tokens and seconds of the cells with a latency, for tokens/s.
    timed_completion_tokens: int = 0
    latency_seconds: float = 0.0
    cost_usd: float = 0.0
    priced: bool = True
    latencies: list[float] = field(default_factory=list)
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    judge_cost_usd: float | None = 0.0


class CellTable:
    """A benchmark's stored cells as per-(target, item) sums and counts.

    Items are indexed in the benchmark's run order (``positions``), the same for
    every target, so that targets can be paired item by item.
    """

    def __init__(
        self, targets: int, positions: Sequence[int], metric_names: Sequence[str]
    ) -> None:
        self.positions = list(positions)
        self.metric_names = list(metric_names)
        self._index_of = {position: i for i, position in enumerate(self.positions)}
        shape = (targets, len(self.positions))
        self.correct_sum = np.zeros(shape)
        self.cell_count = np.zeros(shape)
        # The verdict of repeat 0 (1 correct, 0 wrong, -1 no cell): McNemar pairs.
        self.first_verdict = np.full(shape, -1, dtype=np.int8)
        self.latency_sum = np.zeros(shape)
        self.latency_count = np.zeros(shape)
        self.cost_sum = np.zeros(shape)
        self.cost_count = np.zeros(shape)
        metric_shape = (targets, len(self.metric_names), len(self.positions))
        self.metric_sum = np.zeros(metric_shape)
        self.metric_count = np.zeros(metric_shape)
        self.totals = [_TargetTotals() for _ in range(targets)]

    @property
    def targets(self) -> int:
        return len(self.totals)

    @property
    def items(self) -> int:
        return len(self.positions)

    def add(self, cell: CellFigures) -> None:
        """Count one stored cell in its target's sums."""
        item = self._index_of.get(cell.item_position)
        if item is None or not 0 <= cell.target_index < self.targets:
            return  # not one of the benchmark's cells; never stored by the engine
        t = cell.target_index
        totals = self.totals[t]
        totals.items += 1
        totals.correct += int(cell.correct)
        totals.prompt_tokens += cell.prompt_tokens
        totals.completion_tokens += cell.completion_tokens
        self.correct_sum[t, item] += cell.correct
        self.cell_count[t, item] += 1
        if cell.repeat == 0:
            self.first_verdict[t, item] = int(cell.correct)
        _add_judge_usage(totals, cell.judge_usage)
        self._add_metrics(t, item, cell.metrics)

        if cell.error is not None:
            totals.errors += 1
            return
        if cell.latency_ms is not None:
            totals.latencies.append(cell.latency_ms)
            totals.latency_seconds += cell.latency_ms / 1000
            totals.timed_completion_tokens += cell.completion_tokens
            self.latency_sum[t, item] += cell.latency_ms
            self.latency_count[t, item] += 1
        if cell.cost_usd is None:
            totals.priced = False
        else:
            totals.cost_usd += cell.cost_usd
            self.cost_sum[t, item] += cell.cost_usd
            self.cost_count[t, item] += 1

    def _add_metrics(
        self, t: int, item: int, metrics: dict[str, float | None] | None
    ) -> None:
        for m, name in enumerate(self.metric_names):
            value = (metrics or {}).get(name)
            if value is not None and math.isfinite(value):
                self.metric_sum[t, m, item] += value
                self.metric_count[t, m, item] += 1


def read_cell_table(
    session: Session, benchmark: Benchmark, metric_names: Sequence[str]
) -> CellTable:
    """Build a benchmark's CellTable, streaming its cells from the database."""
    table = CellTable(len(benchmark.targets), benchmark.item_positions, metric_names)
    rows = session.execute(
        select(*CELL_FIGURE_COLUMNS)
        .where(BenchmarkCell.benchmark_id == benchmark.id)
        .execution_options(yield_per=READ_PAGE)
    )
    for row in rows:
        table.add(CellFigures(*row))
    return table


def table_of(
    targets: int,
    positions: Sequence[int],
    cells: Iterable[CellFigures],
    metric_names: Sequence[str] = (),
) -> CellTable:
    """A CellTable of cells already in memory (tests, small benchmarks)."""
    table = CellTable(targets, positions, metric_names)
    for cell in cells:
        table.add(cell)
    return table


def benchmark_results(
    targets: list[dict[str, Any]],
    table: CellTable,
    seed: int,
    repeats: int,
    evaluators: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The results of a benchmark: per target, its frontier, how they were made.

    Accuracy counts every cell (errors as wrong). ``metrics`` holds, per
    requested metric, the mean of the cells that have a value for it: cells
    whose provider call failed, and cells where the metric is null (e.g. an
    unpriced model's cost), are left out of that mean and of its n.
    """
    names = table.metric_names
    # Latency and each metric of each target, resampled together: one draw of
    # items serves every interval (each is still a marginal interval).
    sum_parts = [table.latency_sum[:, None, :], table.metric_sum]
    count_parts = [table.latency_count[:, None, :], table.metric_count]
    # With repeats an item's cells are not independent (a model tends to give
    # an item the same verdict each time): Wilson on the cells would be too
    # narrow, so accuracy is resampled by item, its repeats together, as well.
    clustered = repeats > 1
    if clustered:
        sum_parts.append(table.correct_sum[:, None, :])
        count_parts.append(table.cell_count[:, None, :])
    sums = np.concatenate(sum_parts, axis=1).reshape(-1, table.items)
    counts = np.concatenate(count_parts, axis=1).reshape(-1, table.items)
    # Computed once, when the benchmark completes, and stored: a larger budget.
    resamples = resamples_within(table.items, sums.shape[0], STORED_BUDGET)
    intervals = bootstrap_ratio_intervals(sums.T, counts.T, seed, resamples)
    per_target = 1 + len(names) + int(clustered)

    views = []
    for index, target in enumerate(targets):
        own = intervals[index * per_target : (index + 1) * per_target]
        views.append(_target_view(index, target, table, own, resamples, repeats))
    return {
        "targets": views,
        "frontier": frontier(views),
        "statistics": {"level": LEVEL, "resamples": resamples, "seed": seed},
        # What a manifest needs to say which evaluator versions scored this run.
        "evaluators": [
            {"name": e["name"], "version": e["version"], "kind": e["kind"]}
            for e in evaluators
        ],
    }


def aggregate_targets(
    targets: list[dict[str, Any]],
    cells: Iterable[CellFigures],
    metric_names: Sequence[str] = (),
    positions: Sequence[int] | None = None,
    seed: int = 0,
    repeats: int = 1,
) -> dict[str, Any]:
    """Results of cells in memory; positions default to those the cells name."""
    cells = list(cells)
    if positions is None:
        positions = sorted({cell.item_position for cell in cells})
    table = table_of(len(targets), positions, cells, metric_names)
    return benchmark_results(targets, table, seed, repeats)


def _add_judge_usage(t: _TargetTotals, usage: dict[str, Any] | None) -> None:
    if usage is None:
        return
    t.judge_prompt_tokens += usage["prompt_tokens"]
    t.judge_completion_tokens += usage["completion_tokens"]
    cost = usage["cost_usd"]
    t.judge_cost_usd = (
        None if cost is None or t.judge_cost_usd is None else (t.judge_cost_usd + cost)
    )


def _mean_interval(
    total: float, n: int, interval: tuple[float, float] | None, resamples: int
) -> dict[str, Any] | None:
    if n == 0 or interval is None:
        return None
    return {
        "mean": total / n,
        "low": interval[0],
        "high": interval[1],
        "n": n,
        "level": LEVEL,
        "method": "bootstrap",
        "resamples": resamples,
    }


def _accuracy_interval(
    t: _TargetTotals,
    bootstrap: tuple[float, float] | None,
    resamples: int,
    n_items: int,
) -> dict[str, Any] | None:
    """Wilson on the cells for one repeat, else the item-level bootstrap's.

    A percentile bootstrap collapses to a point when every item has the same
    accuracy (all wrong, or all right): every resample then has that mean, and
    [0, 0] would claim a certainty that n_items items cannot give. There the
    interval is Wilson's over the distinct items instead (``wilson_items``):
    n_items observations with the items' common accuracy, which is exact when
    all items agree, and never the cells, whose repeats are not independent.
    """
    if bootstrap is None:
        wilson = wilson_interval(t.correct, t.items)
        if wilson is None:
            return None
        return {"low": wilson[0], "high": wilson[1], "level": LEVEL, "method": "wilson"}
    if bootstrap[1] - bootstrap[0] <= DEGENERATE_WIDTH and n_items > 0:
        # Degenerate only when the items' accuracies are (all but) equal: then
        # the pooled accuracy is that common value.
        successes = min(n_items, max(0.0, t.correct * n_items / t.items))
        items = wilson_interval(successes, n_items)
        assert items is not None, "n_items > 0"
        return {
            "low": items[0],
            "high": items[1],
            "level": LEVEL,
            "method": "wilson_items",
        }
    return {
        "low": bootstrap[0],
        "high": bootstrap[1],
        "level": LEVEL,
        "method": "bootstrap",
        "resamples": resamples,
    }


def _target_view(
    index: int,
    target: dict[str, Any],
    table: CellTable,
    intervals: list[tuple[float, float] | None],
    resamples: int,
    repeats: int,
) -> dict[str, Any]:
    t = table.totals[index]
    # Distinct items with at least one cell: the n the intervals rest on.
    n_items = int(np.count_nonzero(table.cell_count[index]))
    latency = latency_summary(t.latencies)
    latency_interval = intervals[0]
    metric_intervals = {
        name: _mean_interval(
            float(table.metric_sum[index, m].sum()),
            int(table.metric_count[index, m].sum()),
            intervals[1 + m],
            resamples,
        )
        for m, name in enumerate(table.metric_names)
    }
    # With repeats the last interval is accuracy's, resampled by item; it is
    # None only without cells, where Wilson gives None as well.
    accuracy_interval = _accuracy_interval(
        t, intervals[-1] if repeats > 1 else None, resamples, n_items
    )
    cost = round(t.cost_usd, 10) if t.priced else None
    return {
        "target_index": index,
        "provider": target["provider"],
        "model": target["model"],
        "parameters": target.get("parameters") or {},
        "items": t.items,
        "n_items": n_items,
        "errors": t.errors,
        "correct": t.correct,
        "accuracy": t.correct / t.items if t.items else None,
        "accuracy_interval": accuracy_interval,
        "latency_ms": latency
        | {
            "mean_interval": None
            if latency_interval is None or not t.latencies
            else {"low": latency_interval[0], "high": latency_interval[1]},
            "n": len(t.latencies),
        },
        "prompt_tokens": t.prompt_tokens,
        "completion_tokens": t.completion_tokens,
        # A target whose model has no price has no cost, rather than a wrong one.
        "cost_usd": cost,
        "cost_per_correct_usd": (
            round(t.cost_usd / t.correct, 10)
            if cost is not None and t.correct
            else None
        ),
        "tokens_per_second": (
            t.timed_completion_tokens / t.latency_seconds
            if t.latency_seconds > 0
            else None
        ),
        "metrics": {
            name: None if interval is None else interval["mean"]
            for name, interval in metric_intervals.items()
        },
        "metric_intervals": metric_intervals,
        "small_sample": n_items < SMALL_SAMPLE,
        "repeat_stats": _repeat_stats(table, index, repeats),
        # Judged metrics' calls; null cost when the judge model has no price.
        "judge_prompt_tokens": t.judge_prompt_tokens,
        "judge_completion_tokens": t.judge_completion_tokens,
        "judge_cost_usd": (
            None if t.judge_cost_usd is None else round(t.judge_cost_usd, 10)
        ),
    }


def _repeat_stats(table: CellTable, index: int, repeats: int) -> dict[str, Any] | None:
    """How often an item's verdict changes between its repeats."""
    if repeats < 2:
        return None
    correct = table.correct_sum[index]
    cells = table.cell_count[index]
    repeated = cells >= 2
    unstable = repeated & (correct > 0) & (correct < cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(repeated, correct / np.maximum(cells, 1), 0.0)
    variances = share * (1 - share)
    positions = [table.positions[i] for i in np.flatnonzero(unstable)]
    return {
        "repeats": repeats,
        "unstable_items": int(unstable.sum()),
        "unstable_item_positions": positions[:UNSTABLE_POSITIONS_LISTED],
        "mean_item_variance": float(variances[repeated].mean())
        if repeated.any()
        else 0.0,
    }


def frontier(views: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """The Pareto-optimal targets for accuracy against cost and against latency."""
    return {
        "accuracy_cost": pareto(
            [(v["target_index"], v["accuracy"], v["cost_usd"]) for v in views]
        ),
        "accuracy_latency": pareto(
            [(v["target_index"], v["accuracy"], v["latency_ms"]["p50"]) for v in views]
        ),
    }


def pareto(points: Sequence[tuple[int, float | None, float | None]]) -> list[int]:
    """Indexes of the points no other beats: higher value and lower price, best first.

    A point is dominated when another has at least its value and at most its
    price, and is strictly better in one. Points missing either are left out.
    """
    known = [(i, v, c) for i, v, c in points if v is not None and c is not None]
    kept = [
        (i, v, c)
        for i, v, c in known
        if not any(ov >= v and oc <= c and (ov > v or oc < c) for _, ov, oc in known)
    ]
    return [i for i, _, _ in sorted(kept, key=lambda p: (-p[1], p[2], p[0]))]
