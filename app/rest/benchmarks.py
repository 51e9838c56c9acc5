"""The /v1/benchmarks resource."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from app.benchmarks import runs, service
from app.benchmarks.comparison import compare_benchmark
from app.benchmarks.export import (
    ExportFormat,
    benchmark_manifest,
    check_exportable,
    export_chunks,
)
from app.rest.context import caller, client_address, runtime
from app.rest.disconnect import client_gone
from app.rest.pagination import offset_of, page_of


def create_benchmark(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Store a benchmark as pending and start it in the background."""
    return runs.start_benchmark(runtime(), body, caller()), 201


def list_benchmarks(
    page: int = 1, page_size: int = 20, status: str | None = None
) -> dict[str, Any]:
    """Benchmarks, newest first, optionally of one status."""
    items, total = service.list_benchmarks(
        runtime().db, offset_of(page, page_size), page_size, status
    )
    return page_of(items, total, page, page_size)


def get_benchmark(id_: str) -> dict[str, Any]:
    """A benchmark's status, progress and (once completed) results."""
    return service.get_benchmark(runtime().db, id_)


def cancel_benchmark(id_: str) -> dict[str, Any]:
    """Cancel a benchmark; the cells it finished stay stored."""
    return runs.cancel_benchmark(runtime(), id_, caller(), client_address())


def get_benchmark_results(
    id_: str, page: int = 1, page_size: int = 20, target: int | None = None
) -> dict[str, Any]:
    """The per-item results stored so far."""
    items, total = service.list_cells(
        runtime().db, id_, offset_of(page, page_size), page_size, target
    )
    return page_of(items, total, page, page_size)


def get_benchmark_comparison(id_: str) -> dict[str, Any]:
    """Paired comparison of every pair of targets on the cells stored so far."""
    return compare_benchmark(runtime().db, id_)


def export_benchmark(
    id_: str, format_: str = "csv", target: int | None = None
) -> Response:
    """Stream the stored cells; a 404 is decided before the stream starts."""
    db = runtime().db
    check_exportable(db, id_, target)
    chosen = ExportFormat(format_)
    return Response(
        export_chunks(db, id_, chosen, target, stop=client_gone(request.environ)),
        mimetype=chosen.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="benchmark-{id_}.{chosen}"'
        },
    )


def get_benchmark_manifest(id_: str) -> dict[str, Any]:
    """What it takes to reproduce the run."""
    context = runtime()
    return benchmark_manifest(context.db, context.evaluators, id_)
