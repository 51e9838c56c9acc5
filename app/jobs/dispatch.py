"""The API side of ``LTB_EXECUTOR=celery``: a benchmark becomes Celery tasks.

A benchmark's cells, in their fixed order (cells.ordered_cells), are cut into
chunks of ``LTB_CELERY_CHUNK_SIZE``; each chunk is one task message naming the
benchmark, the chunk's index and its size. The API workers only queue chunks: the
cells run in `ltb worker` processes (app/jobs/tasks.py).

Queued or running chunks survive a crash in the broker (late acknowledgement).
`ltb serve` also queues again, once before its workers start, every chunk of an
unfinished benchmark that still misses cells: a benchmark created but never
queued (an API worker killed in between) starts, and one whose unacknowledged
messages Redis would only redeliver after its visibility timeout carries on at
once. A chunk queued twice costs one look at the database: the copies take turns
(a claim per chunk) and the second finds its cells stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from itertools import islice
from typing import Any

from celery import Celery
from sqlalchemy import select

from app.benchmarks.cells import (
    CellKey,
    fail_benchmark,
    ordered_cells,
    start_pending,
    stored_keys,
)
from app.benchmarks.lifecycle import UNFINISHED
from app.benchmarks.progress import publish_progress
from app.events import EventBus
from app.jobs.celery_app import CHUNK_TASK
from app.store.database import Database
from app.store.models import Benchmark

logger = logging.getLogger(__name__)


class CeleryExecutor:
    """Queues benchmarks' chunks for Celery workers; runs no cell itself."""

    def __init__(
        self, db: Database, celery: Celery, chunk_size: int, events: EventBus
    ) -> None:
        self.db = db
        self.celery = celery
        self.chunk_size = chunk_size
        self.events = events
        self._queueing: set[asyncio.Task[Any]] = set()

    def start(self, benchmark_id: str) -> None:
        """Queue a new benchmark's chunks, off the loop (the broker may be slow)."""
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self._queue_or_fail, benchmark_id)
        )
        self._queueing.add(task)
        task.add_done_callback(self._queueing.discard)

    async def stop(self, benchmark_id: str) -> None:
        """Nothing runs here: workers stop on the cancel event, skip queued chunks."""

    async def resume_unfinished(self) -> list[str]:
        """None here: `ltb serve` requeues once, before its workers start."""
        return []

    async def shutdown(self) -> None:
        """Wait for chunks being queued; running ones belong to the Celery workers."""
        await asyncio.gather(*self._queueing, return_exceptions=True)

    def watch_cancels(self) -> None:
        """Nothing to watch: this process runs no cells."""

    def unwatch_cancels(self) -> None:
        """Nothing to stop watching."""

    @property
    def running_count(self) -> int:
        """Always 0: Celery workers run the benchmarks."""
        return 0

    def requeue_unfinished(self) -> dict[str, int]:
        """Queue the chunks of unfinished benchmarks that miss cells (blocking)."""
        with self.db.session() as session:
            ids = list(
                session.scalars(
                    select(Benchmark.id)
                    .where(Benchmark.status.in_([str(s) for s in UNFINISHED]))
                    .order_by(Benchmark.created_at)
                )
            )
        queued = {benchmark_id: self.queue(benchmark_id) for benchmark_id in ids}
        for benchmark_id, chunks in queued.items():
            logger.info(
                "resuming benchmark %s: %d chunk(s) queued", benchmark_id, chunks
            )
        return queued

    def queue(self, benchmark_id: str) -> int:
        """Queue every chunk of a benchmark still missing cells; how many were."""
        with self.db.session() as session:
            benchmark = session.get(Benchmark, benchmark_id)
            if benchmark is None or benchmark.status not in UNFINISHED:
                return 0
            keys = ordered_cells(
                len(benchmark.targets), benchmark.item_positions, benchmark.repeats
            )
            done = stored_keys(session, benchmark_id)

        queued = 0
        for index, chunk in enumerate(_chunks(keys, self.chunk_size)):
            if all(key in done for key in chunk):
                continue
            self.celery.send_task(
                CHUNK_TASK, args=[benchmark_id, index, self.chunk_size]
            )
            queued += 1

        with self.db.session() as session:
            start_pending(session, benchmark_id)
        return queued

    def _queue_or_fail(self, benchmark_id: str) -> None:
        try:
            chunks = self.queue(benchmark_id)
        except Exception as exc:  # the broker is away: say so rather than hang
            logger.exception("cannot queue benchmark %s", benchmark_id)
            self._fail(benchmark_id, f"cannot queue the benchmark: {exc}")
            return
        logger.info("benchmark %s: %d chunk(s) queued", benchmark_id, chunks)

    def _fail(self, benchmark_id: str, reason: str) -> None:
        failed = fail_benchmark(self.db, benchmark_id, reason)
        if failed is not None:
            publish_progress(self.events, failed)


def _chunks(keys: Iterator[CellKey], size: int) -> Iterator[list[CellKey]]:
    iterator = iter(keys)
    while chunk := list(islice(iterator, size)):
        yield chunk
