"""The /v1/benchmarks resource."""

from __future__ import annotations

from typing import Any

from app.auth.audit import AuditAction
from app.benchmarks import service
from app.benchmarks.progress import progress_of_view
from app.events import Topic
from app.rest.context import audit, caller, runtime
from app.rest.pagination import offset_of, page_of


def create_benchmark(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Store a benchmark as pending and start it in the background."""
    rt = runtime()
    benchmark = service.create_benchmark(
        rt.db, rt.providers, rt.evaluators, body, caller()
    )
    rt.call(_start(rt, benchmark["benchmark_id"]))
    return benchmark, 201


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
    rt = runtime()
    who = caller()
    service.cancel_benchmark(rt.db, id_, who)
    audit(AuditAction.BENCHMARK_CANCELLED, id_)
    rt.call(rt.engine.stop(id_))
    view = service.get_benchmark(rt.db, id_)
    rt.events.publish(Topic.BENCHMARK_PROGRESS, progress_of_view(view))
    return view


def get_benchmark_results(
    id_: str, page: int = 1, page_size: int = 20, target: int | None = None
) -> dict[str, Any]:
    """The per-item results stored so far."""
    items, total = service.list_cells(
        runtime().db, id_, offset_of(page, page_size), page_size, target
    )
    return page_of(items, total, page, page_size)


async def _start(rt: Any, benchmark_id: str) -> None:
    rt.engine.start(benchmark_id)
