"""The data of a ``benchmark.progress`` event, the same figures REST shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.events import EventBus

_TERMINAL = {"completed", "failed", "cancelled"}


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


def publish_progress(events: EventBus, data: dict[str, Any]) -> None:
    """Publish a progress event so that watchers see a benchmark's events in order.

    Several processes publish progress of one benchmark (Celery chunks, the API
    worker that cancels it): a count never goes back, and nothing follows the
    final status.
    """
    from app.events import Topic

    rank = data["completed_cells"]
    if data["status"] in _TERMINAL:
        rank = data["total_cells"] + 1
    events.publish(
        Topic.BENCHMARK_PROGRESS,
        data,
        sequence=(f"benchmark:{data['benchmark_id']}", rank),
    )
