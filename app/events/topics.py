"""The topics of the event bus (asyncapi/asyncapi.yaml describes their payloads)."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    """Where an event is published; WebSocket clients subscribe to these names."""

    BENCHMARK_PROGRESS = "benchmark.progress"
    EVALUATION_RESULTS = "evaluation.results"
    SYSTEM_METRICS = "system.metrics"
    PLUGIN_EVENTS = "plugin.events"
    REQUEST_LOGS = "request.logs"
