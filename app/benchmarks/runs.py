"""Starting and cancelling benchmark runs: what every transport does, in one place.

Creating or cancelling a benchmark is more than a row change: the engine must start
or stop it, cancelling is audited, and watchers must hear of it. REST handlers and
GraphQL resolvers both call these functions, so the two can never drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.auth.audit import AuditAction, record
from app.auth.service import Principal
from app.benchmarks import service
from app.benchmarks.progress import progress_of_view, publish_progress

if TYPE_CHECKING:
    from app.runtime import Runtime


def start_benchmark(
    runtime: Runtime, request: dict[str, Any], owner: Principal
) -> dict[str, Any]:
    """Store a benchmark as pending and hand it to the engine; its first view."""
    benchmark = service.create_benchmark(
        runtime.db, runtime.providers, runtime.evaluators, request, owner
    )

    async def start() -> None:
        runtime.engine.start(benchmark["benchmark_id"])

    runtime.call(start())
    return benchmark


def cancel_benchmark(
    runtime: Runtime, benchmark_id: str, caller: Principal, address: str
) -> dict[str, Any]:
    """Cancel a benchmark, audit it, stop its cells and tell its watchers."""
    service.cancel_benchmark(runtime.db, benchmark_id, caller)
    record(
        runtime.db,
        AuditAction.BENCHMARK_CANCELLED,
        actor_id=caller.user_id,
        actor=caller.username,
        target=benchmark_id,
        address=address,
    )

    runtime.call(runtime.engine.stop(benchmark_id))
    view = service.get_benchmark(runtime.db, benchmark_id)
    publish_progress(runtime.events, progress_of_view(view))
    return view
