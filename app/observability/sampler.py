"""Publishes ``system.metrics`` every few seconds: this worker's vital signs."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable

import psutil

from app.events import EventBus, Topic
from app.observability.requests import RequestStats

logger = logging.getLogger(__name__)


class MetricsSampler:
    """Samples CPU, memory, request rate, connections and benchmarks of a worker."""

    def __init__(
        self,
        events: EventBus,
        stats: RequestStats,
        open_connections: Callable[[], int],
        running_benchmarks: Callable[[], int],
        interval_s: float,
    ) -> None:
        self.events = events
        self.stats = stats
        self.open_connections = open_connections
        self.running_benchmarks = running_benchmarks
        self.interval_s = interval_s
        self._process = psutil.Process(os.getpid())
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="metrics")

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        # The first reading of cpu_percent only sets the baseline.
        self._process.cpu_percent(None)
        psutil.cpu_percent(None)
        last_total, last_time = self.stats.total, time.monotonic()
        while True:
            await asyncio.sleep(self.interval_s)
            now, total = time.monotonic(), self.stats.total
            try:
                self.events.publish(
                    Topic.SYSTEM_METRICS,
                    self.sample(total - last_total, now - last_time),
                )
            except psutil.Error:
                logger.exception("could not sample system metrics")
            last_total, last_time = total, now

    def sample(self, requests: int, elapsed_s: float) -> dict[str, float | int]:
        """One sample; ``requests`` were answered in the last ``elapsed_s``."""
        memory = self._process.memory_info()
        return {
            "worker_pid": self._process.pid,
            "cpu_percent": self._process.cpu_percent(None),
            "system_cpu_percent": psutil.cpu_percent(None),
            "memory_rss_bytes": memory.rss,
            "system_memory_percent": psutil.virtual_memory().percent,
            "requests_per_second": round(requests / elapsed_s, 3) if elapsed_s else 0.0,
            "requests_in_flight": self.stats.in_flight,
            "open_connections": self.open_connections(),
            "running_benchmarks": self.running_benchmarks(),
            "interval_s": self.interval_s,
        }
