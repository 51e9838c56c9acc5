"""Prometheus metrics: defined here, fed by their real producers, served at /metrics.

Under `ltb serve` (gunicorn) every worker writes its figures to files in
``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py creates it per server start and
forgets a worker's live gauges when it exits), and /metrics, whichever worker
answers it, reads and sums them all. Without that variable (the app embedded in
another program, the tests) the figures live in this process' default registry.

prometheus_client picks its storage when first imported, so the variable must be
set before that: gunicorn's master sets it before it forks any worker.

Every label has a bounded set of values: requests are labelled by the route
template of their operation (never the raw path), methods outside HTTP's usual
ones and models outside the providers file are folded into "other".
"""

from __future__ import annotations

import functools
import os
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The text format every Prometheus reads (0.26's "latest" is a 1.0.0 draft).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Latency buckets in seconds: /health takes a millisecond, a provider call a minute.
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The route label of a request no operation of the contract answered (a 404, the
# Swagger UI files).
UNROUTED = "other"
OTHER = "other"

HTTP_REQUESTS = Counter(
    "ltb_http_requests",
    "HTTP requests answered, by route template and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "ltb_http_request_duration_seconds",
    "Time to the start of the response, by route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
PROVIDER_CALLS = Counter(
    "ltb_provider_calls",
    "Completions asked of providers, by outcome (ok, rejected, unavailable, error).",
    ["provider", "model", "outcome"],
)
PROVIDER_CALL_DURATION = Histogram(
    "ltb_provider_call_duration_seconds",
    "Wall time of provider calls (retries included), successful or not.",
    ["provider", "model"],
    buckets=LATENCY_BUCKETS,
)
PROVIDER_TOKENS = Counter(
    "ltb_provider_tokens",
    "Tokens the providers reported (kind: prompt or completion; cached prompt "
    "tokens are part of prompt).",
    ["provider", "model", "kind"],
)
PROVIDER_COST = Counter(
    "ltb_provider_cost_usd",
    "USD cost of provider calls at the prices of the providers file.",
    ["provider", "model"],
)
BENCHMARK_CELLS = Counter(
    "ltb_benchmark_cells",
    "Benchmark cells finished, by outcome (correct, wrong, error).",
    ["outcome"],
)
# livesum: the sum over the workers that are alive (a dead worker's sockets are gone).
OPEN_WEBSOCKETS = Gauge(
    "ltb_websocket_connections",
    "WebSocket connections open now, by endpoint.",
    ["endpoint"],
    multiprocess_mode="livesum",
)


@functools.lru_cache(maxsize=4096)
def series(metric: Any, *labels: str) -> Any:
    """The time series of metric with these label values, looked up once.

    ``metric.labels()`` checks and joins the values under a lock on every call;
    the engine asks for the same few series for every cell and provider call
    (4% of the loop's CPU at 1,000 cells/s, bench/engine_bench.py --profile).
    Label values are bounded (see above), so the cache is too.
    """
    return metric.labels(*labels)


def method_label(method: str) -> str:
    """The method as a label: one of HTTP's usual methods, or "other"."""
    return method if method in KNOWN_METHODS else OTHER


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered HTTP request and its latency."""
    method = method_label(method)
    series(HTTP_REQUESTS, method, route, str(status)).inc()
    series(HTTP_REQUEST_DURATION, method, route).observe(seconds)


def record_benchmark_cell(cell: dict[str, object]) -> None:
    """Count one finished benchmark cell (the engine's cell row)."""
    if cell.get("error"):
        outcome = "error"
    else:
        outcome = "correct" if cell.get("correct") else "wrong"
    series(BENCHMARK_CELLS, outcome).inc()


def exposition() -> tuple[bytes, str]:
    """Every metric of the server in the text format, and its content type."""
    if os.environ.get(MULTIPROC_DIR_VARIABLE):
        # A registry of its own per scrape, as prometheus_client's docs require:
        # the collector reads every worker's files each time.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE
    return generate_latest(REGISTRY), CONTENT_TYPE


def forget_worker(pid: int) -> None:
    """Drop the live gauges of a worker that exited (gunicorn's child_exit hook)."""
    if os.environ.get(MULTIPROC_DIR_VARIABLE):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
