"""What a Celery worker (`ltb worker`) does with a chunk of a benchmark.

A worker process keeps one event loop in a thread of its own, with the same
services an API worker has (database, provider clients, event bus, metrics);
Celery's threads hand each chunk to that loop, where the cells run exactly as
the in-process engine runs them (app/benchmarks/cells.py).

A chunk is claimed before it runs (app/benchmarks/claims.py): a copy delivered
again while the first still runs (Redis redelivers after its visibility timeout;
`ltb serve` re-queues at start-up) waits for it, then finds its cells stored.
Whichever chunk stores a benchmark's last cell completes it, once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Coroutine
from itertools import islice
from typing import Any, TypeVar

from celery import Task

from app.benchmarks.cells import CellRunner, cell_keys
from app.benchmarks.claims import Claim, RunClaims
from app.benchmarks.lifecycle import UNFINISHED, BenchmarkStatus
from app.benchmarks.progress import publish_progress
from app.evaluators.registry import builtin_registry
from app.events import EventBus
from app.plugins.metrics import register_plugin_metrics
from app.plugins.service import PluginService
from app.providers.config import load_provider_configs
from app.providers.limiter import SharedSlots
from app.providers.registry import ProviderRegistry
from app.settings import Settings
from app.store.database import Database
from app.store.models import Benchmark

logger = logging.getLogger(__name__)

T = TypeVar("T")
CLAIM_POLL_S = 0.5


class ChunkRunner(CellRunner):
    """Runs one chunk's missing cells, and completes the benchmark if it was last."""

    async def run_chunk(self, benchmark_id: str, chunk: int, size: int) -> int:
        """Run the chunk's cells not stored yet; how many ran (0: nothing to do)."""
        plan = await asyncio.to_thread(self._load_plan, benchmark_id)
        if plan is None:  # cancelled, failed or completed: a queued chunk is skipped
            return 0
        keys = list(islice(cell_keys(plan), chunk * size, (chunk + 1) * size))
        done = await asyncio.to_thread(self._done_keys, benchmark_id)
        missing = [key for key in keys if key not in done]
        if missing:
            await self._run_cells(plan, iter(missing))

        stored = await asyncio.to_thread(self._stored_count, benchmark_id)
        if stored >= plan.total_cells:
            completed, results = await asyncio.to_thread(self._complete, plan)
            if results is not None:
                self._publish(plan, BenchmarkStatus.COMPLETED, completed, None, results)
        return len(missing)

    def is_unfinished(self, benchmark_id: str) -> bool:
        """Whether the benchmark still wants its cells run (blocking)."""
        with self.db.session() as session:
            benchmark = session.get(Benchmark, benchmark_id)
            return benchmark is not None and benchmark.status in UNFINISHED


class ChunkWorker:
    """One Celery worker process' services and the event loop its chunks run on."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="chunk-loop", daemon=True
        )
        self._thread.start()
        db = Database(settings.resolved_database_url)
        assert settings.redis_url, "Settings.check_shared_state requires it"
        configs = load_provider_configs(settings.providers_file, settings.environ)
        providers = ProviderRegistry(
            configs,
            settings.environ,
            SharedSlots(settings.redis_url, settings.redis_prefix),
        )
        events = EventBus(settings.redis_url, settings.redis_prefix)
        evaluators = builtin_registry()
        register_plugin_metrics(evaluators, PluginService.load(db, events, settings))
        self.runner = ChunkRunner(db, providers, events, evaluators)
        self.claims = RunClaims(settings.resolved_database_url)
        self.call(self._start())

    async def _start(self) -> None:
        await self.runner.events.start()
        self.runner.watch_cancels()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the worker's loop and wait for it (from a thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def run(self, benchmark_id: str, chunk: int, size: int) -> int:
        """Claim the chunk, run its missing cells; how many ran."""
        claim = self._wait_for_claim(benchmark_id, chunk)
        if claim is None:
            return 0
        try:
            return self.call(self.runner.run_chunk(benchmark_id, chunk, size))
        except concurrent.futures.CancelledError:
            logger.info("benchmark %s cancelled: chunk %d stopped", benchmark_id, chunk)
            return 0
        finally:
            claim.release()

    def fail(self, benchmark_id: str, reason: str) -> None:
        """Mark the benchmark failed and say so (a chunk that kept failing)."""
        failed = self.runner._fail(benchmark_id, reason)
        if failed is not None:
            publish_progress(self.runner.events, failed)

    def _wait_for_claim(self, benchmark_id: str, chunk: int) -> Claim | None:
        while True:
            claim = self.claims.try_claim(f"chunk:{benchmark_id}:{chunk}")
            if claim is not None:
                return claim
            # Another copy of this chunk runs: wait for it unless the benchmark
            # ended meanwhile.
            if not self.runner.is_unfinished(benchmark_id):
                return None
            time.sleep(CLAIM_POLL_S)


_worker: ChunkWorker | None = None
_worker_lock = threading.Lock()


def chunk_worker() -> ChunkWorker:
    """This process' ChunkWorker, built on first use from the environment."""
    global _worker
    with _worker_lock:
        if _worker is None:
            settings = Settings.from_env()
            settings.check_shared_state()
            _worker = ChunkWorker(settings)
        return _worker


def run_chunk(task: Task, benchmark_id: str, chunk: int, size: int) -> int:
    """The Celery task: run a chunk; retry on failure, then fail the benchmark."""
    try:
        return chunk_worker().run(benchmark_id, chunk, size)
    except Exception as exc:
        retries: int = task.request.retries
        if retries < (task.max_retries or 0):
            logger.warning(
                "chunk %d of %s failed (%s); retrying", chunk, benchmark_id, exc
            )
            raise task.retry(exc=exc, countdown=min(2**retries, 30)) from exc
        logger.exception("chunk %d of %s failed for good", chunk, benchmark_id)
        chunk_worker().fail(benchmark_id, f"a chunk failed {retries + 1} times: {exc}")
        return 0
