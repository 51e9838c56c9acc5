"""Benchmarks: list, read, create, cancel, and watch one's progress live."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

from ariadne import (
    InputType,
    MutationType,
    ObjectType,
    QueryType,
    SchemaBindable,
    SubscriptionType,
)

from app.benchmarks import runs, service
from app.benchmarks.comparison import compare_benchmark
from app.benchmarks.lifecycle import BenchmarkStatus
from app.benchmarks.progress import progress_of_view
from app.errors import BadRequest
from app.events import Event, Topic
from app.graphql.context import GraphQLContext, Info
from app.graphql.contract import check_parameter, check_schema, graphql_names
from app.graphql.permissions import authorize_root_field
from app.graphql.resolvers.datasets import checked_page
from app.rest.pagination import offset_of, page_of
from app.runtime import Runtime

logger = logging.getLogger(__name__)

TERMINAL = frozenset(
    {BenchmarkStatus.COMPLETED, BenchmarkStatus.FAILED, BenchmarkStatus.CANCELLED}
)
# Progress events a slow subscriber may fall behind by; each is a full snapshot,
# so when the queue is full the oldest is dropped and nothing true is lost.
PROGRESS_QUEUE_SIZE = 64

query = QueryType()
mutation = MutationType()
subscription = SubscriptionType()
# REST names the targets "providers": the resolver gets the input under the names
# of POST /v1/benchmarks' body, and errors name them back as the caller did.
benchmark_input = InputType("BenchmarkInput", out_names={"targets": "providers"})
benchmark = ObjectType("Benchmark")
progress = ObjectType("BenchmarkProgress")
latency = ObjectType("LatencySummary")
# Name conversion would look for "p_50"; the services' keys are "p50".
for percentile in ("p50", "p95", "p99"):
    latency.set_alias(percentile, percentile)
target_result = ObjectType("TargetResult")
pair_comparison = ObjectType("PairComparison")


@target_result.field("metrics")
def resolve_target_metrics(result: dict[str, Any], _info: Info) -> list[dict[str, Any]]:
    """REST's {name: mean} map, as a list in the benchmark's metric order."""
    means: dict[str, float | None] = result.get("metrics") or {}
    return [{"name": name, "mean": mean} for name, mean in means.items()]


@target_result.field("metricIntervals")
def resolve_metric_intervals(
    result: dict[str, Any], _info: Info
) -> list[dict[str, Any]]:
    """REST's {name: interval or null} map, as a list; n is 0 without values."""
    intervals: dict[str, dict[str, Any] | None] = result.get("metric_intervals") or {}
    return [
        {"name": name, "n": 0} if interval is None else {"name": name, **interval}
        for name, interval in intervals.items()
    ]


@pair_comparison.field("metrics")
def resolve_pair_metrics(pair: dict[str, Any], _info: Info) -> list[dict[str, Any]]:
    """REST's {name: test or null} map, as a list in the benchmark's metric order."""
    tests: dict[str, dict[str, Any] | None] = pair["metrics"]
    return [{"name": name, "test": test} for name, test in tests.items()]


@query.field("benchmarkComparison")
def resolve_benchmark_comparison(_obj: Any, info: Info, id: str) -> dict[str, Any]:
    """The same comparison as GET /v1/benchmarks/{id}/comparison."""
    check_parameter("ResourceId", id, "id")
    return compare_benchmark(info.context.runtime.db, id)


@query.field("benchmarks")
def resolve_benchmarks(
    _obj: Any,
    info: Info,
    page: int | None,
    page_size: int | None,
    status: str | None = None,
) -> dict[str, Any]:
    """A page of benchmarks, newest first, optionally of one status."""
    page, page_size = checked_page(page, page_size)
    items, total = service.list_benchmarks(
        info.context.runtime.db, offset_of(page, page_size), page_size, status
    )
    return page_of(items, total, page, page_size)


@query.field("benchmark")
def resolve_benchmark(
    _obj: Any,
    info: Info,
    id: str,
) -> dict[str, Any]:
    """One benchmark; NOT_FOUND when there is none with this id."""
    check_parameter("ResourceId", id, "id")
    return service.get_benchmark(info.context.runtime.db, id)


@mutation.field("createBenchmark")
def resolve_create_benchmark(
    _obj: Any,
    info: Info,
    input: dict[str, Any],
) -> dict[str, Any]:
    """Check the input as POST /v1/benchmarks' body, then start the benchmark.

    The input arrives under REST's names (``providers``, ``max_tokens``); a refusal
    names its fields as the caller wrote them (``targets``, ``maxTokens``).
    """
    request = _without_nulls(input)
    input_type = info.parent_type.fields[info.field_name].args["input"].type
    check_schema("BenchmarkCreate", request, "input", input_type)
    context: GraphQLContext = info.context
    try:
        return runs.start_benchmark(context.runtime, request, context.principal)
    except BadRequest as error:
        # The services' details name REST's fields (which targets' providers are
        # not configured: "providers"); GraphQL's caller sent "targets".
        error.details = graphql_names(input_type, error.details)
        raise


@mutation.field("cancelBenchmark")
def resolve_cancel_benchmark(
    _obj: Any,
    info: Info,
    id: str,
) -> dict[str, Any]:
    """Cancel a benchmark (its owner or an admin), as its REST operation does."""
    check_parameter("ResourceId", id, "id")
    context: GraphQLContext = info.context
    return runs.cancel_benchmark(
        context.runtime, id, context.principal, context.client_address
    )


# Ariadne types a source as returning the stream itself; graphql-core also awaits a
# coroutine that returns it, which lets a refusal come before the stream starts.
@subscription.source("benchmarkProgress")  # type: ignore[arg-type]
async def benchmark_progress_source(
    _obj: Any, info: Info, id: str
) -> AsyncGenerator[dict[str, Any], None]:
    """Refuse at once what cannot be watched; else the stream of its progress.

    A refusal (role, bad id, no such benchmark) raised here becomes the protocol's
    ``error`` message, before any ``next``.
    """
    context: GraphQLContext = info.context
    authorize_root_field("Subscription", "benchmarkProgress", context.principal.role)
    check_parameter("ResourceId", id, "id")
    await asyncio.to_thread(service.get_benchmark, context.runtime.db, id)
    return _progress_stream(context.runtime, id)


async def _progress_stream(
    runtime: Runtime, benchmark_id: str
) -> AsyncGenerator[dict[str, Any], None]:
    """The current state, then each change from the event bus, until it ends."""
    # Listen before reading the current state, so no change falls between the two.
    updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue(PROGRESS_QUEUE_SIZE)

    def on_event(event: Event) -> None:
        if event.topic == Topic.BENCHMARK_PROGRESS and (
            event.data.get("benchmark_id") == benchmark_id
        ):
            _offer(updates, event.data)

    stop = runtime.events.listen(on_event)
    try:
        view = await asyncio.to_thread(service.get_benchmark, runtime.db, benchmark_id)
        current = progress_of_view(view)
        yield current
        while current["status"] not in TERMINAL:
            update = await updates.get()
            if _is_stale(update, current):
                continue
            current = update
            yield current
    finally:
        stop()


@subscription.field("benchmarkProgress")
def resolve_benchmark_progress(
    update: dict[str, Any], _info: Info, **_args: Any
) -> dict[str, Any]:
    """Each progress snapshot is the field's value as it is."""
    return update


@benchmark.field("id")
def resolve_benchmark_id(view: dict[str, Any], _info: Info) -> str:
    """REST names it benchmark_id."""
    benchmark_id: str = view["benchmark_id"]
    return benchmark_id


@benchmark.field("targets")
def resolve_targets(view: dict[str, Any], _info: Info) -> list[dict[str, Any]]:
    """REST names the targets "providers" (the request's field)."""
    targets: list[dict[str, Any]] = view["providers"]
    return targets


@benchmark.field("results")
@progress.field("results")
def resolve_results(view: dict[str, Any], _info: Info) -> list[dict[str, Any]] | None:
    """The per-target results of a completed benchmark, else null."""
    results = view.get("results")
    if results is None:
        return None
    targets: list[dict[str, Any]] = results["targets"]
    return targets


@benchmark.field("frontier")
def resolve_frontier(view: dict[str, Any], _info: Info) -> dict[str, Any] | None:
    """The frontiers of a completed benchmark's results, else null."""
    results = view.get("results")
    return None if results is None else results.get("frontier")


@benchmark.field("resultStatistics")
def resolve_result_statistics(
    view: dict[str, Any], _info: Info
) -> dict[str, Any] | None:
    """How a completed benchmark's intervals were computed, else null."""
    results = view.get("results")
    return None if results is None else results.get("statistics")


def _without_nulls(value: Any) -> Any:
    # An explicit null in a GraphQL input means "not given", as an absent key does
    # in a REST body (whose schema has no nullable input field).
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _offer(updates: asyncio.Queue[dict[str, Any]], update: dict[str, Any]) -> None:
    if updates.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            updates.get_nowait()
        logger.debug("a progress subscriber fell behind; dropped a snapshot")
    updates.put_nowait(update)


def _is_stale(update: dict[str, Any], current: dict[str, Any]) -> bool:
    # An event published before the current state was read says nothing new.
    return (
        update["status"] not in TERMINAL
        and update["status"] == current["status"]
        and update["completed_cells"] <= current["completed_cells"]
    )


BINDABLES: list[SchemaBindable] = [
    query,
    mutation,
    subscription,
    benchmark_input,
    benchmark,
    progress,
    latency,
    target_result,
    pair_comparison,
]
