"""What the results page shows, gathered from the same sources as the API.

A completed benchmark shows its stored ``results`` (the figures of
``GET /v1/benchmarks/{id}``, intervals included when the server computes them).
A benchmark still running, or failed or cancelled, has no results yet: the page
then aggregates the cells stored so far with the engine's own function, so the
figures are the ones the results will have if nothing else arrives. The pairwise
comparison is the ``get_benchmark_comparison`` operation's answer; a missing
figure is shown as missing, never guessed.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from app.auth.permissions import PERMISSIONS
from app.auth.service import Principal
from app.benchmarks import service
from app.benchmarks.aggregate import benchmark_results, read_cell_table
from app.benchmarks.comparison import compare_benchmark
from app.errors import LTBError, NotFound
from app.pages import charts
from app.runtime import Runtime
from app.store.models import Benchmark, BenchmarkCell

logger = logging.getLogger(__name__)

COMPARISON_OPERATION = "get_benchmark_comparison"
FINISHED = frozenset({"completed", "failed", "cancelled"})


def page_model(
    runtime: Runtime, benchmark_id: str, viewer: Principal
) -> dict[str, Any]:
    """Everything the templates need; NotFound for an unknown benchmark."""
    benchmark = service.get_benchmark(runtime.db, benchmark_id)
    stored = benchmark.get("results")
    if stored is not None:
        results, source = stored, "results"
    else:
        results, source = _results_so_far(runtime, benchmark_id), "cells"
    targets = results["targets"]
    latencies = _latencies(runtime, benchmark_id)

    frontier = (results.get("frontier") or {}).get("accuracy_cost")
    comparison, comparison_note = _comparison(runtime, benchmark_id, viewer)
    return {
        "benchmark": benchmark,
        "live": benchmark["status"] not in FINISHED,
        "source": source,
        "targets": targets,
        "metric_names": list(benchmark["metrics"]),
        "has_intervals": any(t.get("accuracy_interval") for t in targets),
        "frontier": set(frontier or ()),
        "interval_chart": charts.interval_bars(targets) if targets else None,
        "latency_chart": charts.latency_histograms(targets, latencies),
        "cost_chart": charts.cost_accuracy(targets, frontier),
        "comparison": comparison,
        "comparison_note": comparison_note,
        "labels": {t["target_index"]: charts.label(t) for t in targets},
        "colour": charts.colour,
        "viewer": viewer,
    }


def _results_so_far(runtime: Runtime, benchmark_id: str) -> dict[str, Any]:
    # The engine's own aggregation over the cells stored so far, with the
    # benchmark's seed and repeats: the figures its results will have if no
    # other cell arrives.
    with runtime.db.session() as session:
        row = session.get(Benchmark, benchmark_id)
        if row is None:  # deleted between the two reads
            raise NotFound(f"Benchmark '{benchmark_id}' not found")
        table = read_cell_table(session, row, list(row.metrics))
        return benchmark_results(list(row.targets), table, row.seed, row.repeats)


def _latencies(runtime: Runtime, benchmark_id: str) -> dict[int, list[float]]:
    """The latency of every answered cell, per target, for the histogram."""
    latencies: dict[int, list[float]] = {}
    with runtime.db.session() as session:
        rows = session.execute(
            select(BenchmarkCell.target_index, BenchmarkCell.latency_ms).where(
                BenchmarkCell.benchmark_id == benchmark_id,
                BenchmarkCell.error.is_(None),
                BenchmarkCell.latency_ms.is_not(None),
            )
        )
        for target_index, latency_ms in rows:
            if latency_ms is not None:  # filtered above; the column is nullable
                latencies.setdefault(target_index, []).append(latency_ms)
    return latencies


def _comparison(
    runtime: Runtime, benchmark_id: str, viewer: Principal
) -> tuple[dict[str, Any] | None, str | None]:
    """The comparison operation's answer, or None and why not."""
    if viewer.role not in PERMISSIONS[COMPARISON_OPERATION]:
        return None, "Your role may not read the comparison."
    try:
        return compare_benchmark(runtime.db, benchmark_id), None
    except LTBError as e:
        # e.g. no stored cells yet: the page shows why instead of the table.
        return None, e.message
