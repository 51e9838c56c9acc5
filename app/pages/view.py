"""What the results page shows, gathered from the same sources as the API.

A completed benchmark shows its stored ``results`` (the figures of
``GET /v1/benchmarks/{id}``, intervals included when the server computes them).
A benchmark still running, or failed or cancelled, has no results yet: the page
then aggregates the cells stored so far with the engine's own function, so the
figures are the ones the results will have if nothing else arrives. The pairwise
comparison is the ``get_benchmark_comparison`` operation's answer when this
server has that operation; a missing figure is shown as missing, never guessed.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from sqlalchemy import select

from app.auth.permissions import PERMISSIONS
from app.auth.service import Principal
from app.benchmarks import service
from app.benchmarks.aggregate import CellFigures, aggregate_targets
from app.errors import LTBError
from app.pages import charts
from app.runtime import Runtime
from app.store.models import BenchmarkCell

logger = logging.getLogger(__name__)

COMPARISON_OPERATION = "get_benchmark_comparison"
FINISHED = frozenset({"completed", "failed", "cancelled"})


def page_model(
    runtime: Runtime, benchmark_id: str, viewer: Principal
) -> dict[str, Any]:
    """Everything the templates need; NotFound for an unknown benchmark."""
    benchmark = service.get_benchmark(runtime.db, benchmark_id)
    figures = _stored_figures(runtime, benchmark_id)
    stored = benchmark.get("results")
    if stored is not None:
        results, source = stored, "results"
    else:
        results = aggregate_targets(
            benchmark["providers"], figures, benchmark["metrics"]
        )
        source = "cells"
    targets = results["targets"]

    latencies: dict[int, list[float]] = {}
    for cell in figures:
        if cell.error is None and cell.latency_ms is not None:
            latencies.setdefault(cell.target_index, []).append(cell.latency_ms)

    frontier = (results.get("frontier") or {}).get("accuracy_cost")
    comparison, comparison_note = _comparison(benchmark_id, viewer)
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


def _stored_figures(runtime: Runtime, benchmark_id: str) -> list[CellFigures]:
    # CellFigures' fields are named after the cell columns they come from: reading
    # them by name keeps this right whatever fields the aggregation needs.
    names = [f.name for f in fields(CellFigures)]
    with runtime.db.session() as session:
        rows = session.execute(
            select(*(getattr(BenchmarkCell, name) for name in names)).where(
                BenchmarkCell.benchmark_id == benchmark_id
            )
        )
        return [CellFigures(**dict(zip(names, row, strict=True))) for row in rows]


def _comparison(
    benchmark_id: str, viewer: Principal
) -> tuple[dict[str, Any] | None, str | None]:
    """The comparison operation's answer, or None and why not."""
    handler = _comparison_handler()
    if handler is None:
        return None, "This server has no pairwise comparison."
    if viewer.role not in PERMISSIONS.get(COMPARISON_OPERATION, frozenset()):
        return None, "Your role may not read the comparison."
    try:
        answer = handler(benchmark_id)
        return (answer[0] if isinstance(answer, tuple) else answer), None
    except LTBError as e:
        # e.g. no stored cells yet: the page shows why instead of the table.
        return None, e.message


def _comparison_handler() -> Callable[[str], Any] | None:
    # The operation belongs to the REST resource module; the page asks it rather
    # than computing pairs a second way.
    module = importlib.import_module("app.rest.benchmarks")
    handler = getattr(module, COMPARISON_OPERATION, None)
    if not callable(handler) or COMPARISON_OPERATION not in PERMISSIONS:
        return None
    return lambda benchmark_id: handler(id_=benchmark_id)
