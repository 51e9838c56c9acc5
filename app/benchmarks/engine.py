"""The in-process executor: runs every missing cell of a benchmark on the event loop.

This is the embedded default (``LTB_EXECUTOR=embedded``): the API worker that
starts a benchmark runs it as a task on its own loop. What a cell is, how it is
stored and how a benchmark completes is app/benchmarks/cells.py, shared with the
Celery executor.

With several API workers (PostgreSQL and Redis), each benchmark is claimed by one
worker (app/benchmarks/claims.py) before it runs: workers starting up together
do not all resume the same unfinished benchmark, and a worker that dies releases
its claim with its database connection, so the worker gunicorn starts in its
place resumes it.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from app.benchmarks.cells import CellRunner, missing_cells
from app.benchmarks.claims import Claim, RunClaims
from app.benchmarks.lifecycle import UNFINISHED, BenchmarkStatus
from app.benchmarks.progress import publish_progress
from app.evaluators.registry import EvaluatorRegistry
from app.events import EventBus
from app.providers.registry import ProviderRegistry
from app.store.database import Database
from app.store.models import Benchmark

logger = logging.getLogger(__name__)


class BenchmarkEngine(CellRunner):
    """Runs benchmarks as tasks on the event loop; at most one task per benchmark."""

    def __init__(
        self,
        db: Database,
        providers: ProviderRegistry,
        events: EventBus,
        evaluators: EvaluatorRegistry,
        claims: RunClaims | None = None,
    ) -> None:
        super().__init__(db, providers, events, evaluators)
        # None: this process is the only one running benchmarks (one worker).
        self.claims = claims
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, benchmark_id: str) -> None:
        """Schedule a benchmark; call on the loop. A running one is left alone."""
        task = self._tasks.get(benchmark_id)
        if task is not None and not task.done():
            return
        task = asyncio.get_running_loop().create_task(
            self._run(benchmark_id), name=f"benchmark-{benchmark_id}"
        )
        self._tasks[benchmark_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(benchmark_id, None))

    async def stop(self, benchmark_id: str) -> None:
        """Stop a benchmark's task, keeping every cell already finished."""
        task = self._tasks.get(benchmark_id)
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def resume_unfinished(self) -> list[str]:
        """Start every benchmark left pending or running by an earlier process."""
        ids = await asyncio.to_thread(self._unfinished_ids)
        for benchmark_id in ids:
            logger.info("resuming benchmark %s", benchmark_id)
            self.start(benchmark_id)
        return ids

    async def shutdown(self) -> None:
        """Stop all tasks; their benchmarks stay "running" and resume on next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def running_count(self) -> int:
        """How many benchmarks this process is running now."""
        return sum(1 for task in self._tasks.values() if not task.done())

    async def _run(self, benchmark_id: str) -> None:
        claim = await self._claim(benchmark_id)
        if claim is None:
            logger.info("benchmark %s is run by another worker", benchmark_id)
            return
        try:
            await self._run_claimed(benchmark_id)
        finally:
            await asyncio.to_thread(claim.release)

    async def _claim(self, benchmark_id: str) -> Claim | None:
        if self.claims is None:
            return Claim()
        return await asyncio.to_thread(self.claims.try_claim, f"run:{benchmark_id}")

    async def _run_claimed(self, benchmark_id: str) -> None:
        try:
            plan = await asyncio.to_thread(self._load_plan, benchmark_id)
            if plan is None:
                return
            done = await asyncio.to_thread(self._done_keys, benchmark_id)
            self._publish(plan, BenchmarkStatus.RUNNING, len(done))
            await self._run_cells(plan, missing_cells(plan, done))
            completed, results = await asyncio.to_thread(self._complete, plan)
            if results is not None:
                self._publish(plan, BenchmarkStatus.COMPLETED, completed, None, results)
        except asyncio.CancelledError:
            logger.info("benchmark %s stopped; finished cells are kept", benchmark_id)
            raise
        except Exception as exc:  # the benchmark fails, the server does not
            logger.exception("benchmark %s failed", benchmark_id)
            failed = await asyncio.to_thread(self._fail, benchmark_id, str(exc))
            if failed is not None:
                publish_progress(self.events, failed)

    def _unfinished_ids(self) -> list[str]:
        with self.db.session() as session:
            rows = session.scalars(
                select(Benchmark.id)
                .where(Benchmark.status.in_([str(s) for s in UNFINISHED]))
                .order_by(Benchmark.created_at)
            )
            return list(rows)
