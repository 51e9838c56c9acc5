"""The data of a ``benchmark.progress`` event, the same figures REST shows."""

from __future__ import annotations

from typing import Any


def progress_data(
    benchmark_id: str,
    status: str,
    completed_cells: int,
    total_cells: int,
    error: str | None = None,
    results: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One progress event: where a benchmark stands, and its results once done."""
    return {
        "benchmark_id": benchmark_id,
        "status": str(status),
        "progress": min(1.0, completed_cells / total_cells) if total_cells else 1.0,
        "completed_cells": completed_cells,
        "total_cells": total_cells,
        "error": error,
        "results": results,
    }


def progress_of_view(view: dict[str, Any]) -> dict[str, Any]:
    """The progress event data of a benchmark as the REST API shows it."""
    return progress_data(
        view["benchmark_id"],
        view["status"],
        view["completed_cells"],
        view["total_cells"],
        view["error"],
        view["results"],
    )
