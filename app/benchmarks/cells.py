"""Benchmark cells: what running one (target, item, repeat) means, for every executor.

A cell is one (target, item, repeat). Once the target's completion is in, the
cell's metrics are computed: deterministic ones in a thread, plugin ones in their
plugins' processes, judged ones by the benchmark's judge (through the provider
registry and the judge cache). A metric that fails is null with the reason in
that cell; it costs neither the cell nor the benchmark.

Cells are written in batches as they finish, keyed by (benchmark, target, item,
repeat) with insert-if-absent, so a benchmark that is interrupted (crash, restart,
shutdown, a Celery chunk delivered twice) resumes where it stopped: the cells
already stored are skipped, none is lost and none is stored twice. Completing a
benchmark is one conditional UPDATE, so of several processes finishing its last
cells at once exactly one stores the results.

The in-process executor (app/benchmarks/engine.py) runs all missing cells of a
benchmark; the Celery executor (app/jobs/) runs them a chunk at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.benchmarks.aggregate import benchmark_results, read_cell_table
from app.benchmarks.extraction import extract_choice, extract_number, score_answer
from app.benchmarks.items import item_from_row
from app.benchmarks.lifecycle import UNFINISHED, BenchmarkStatus
from app.benchmarks.progress import progress_data, publish_progress
from app.benchmarks.prompts import build_prompt
from app.datasets.formats import DatasetItem as Item
from app.errors import LTBError
from app.evaluations.service import judge_case
from app.evaluators.base import (
    Case,
    DeterministicEvaluator,
    Evaluator,
    JudgedEvaluator,
    MetricResult,
    PluginEvaluator,
)
from app.evaluators.judge import JudgeUsage
from app.evaluators.registry import EvaluatorRegistry
from app.events import Event, EventBus, Topic
from app.observability.metrics import record_benchmark_cell
from app.providers.pricing import cost_usd
from app.providers.registry import ProviderRegistry
from app.store.database import Database
from app.store.models import Benchmark, BenchmarkCell, DatasetItem, utcnow
from app.store.writes import insert_ignoring_duplicates

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.25
FLUSH_BATCH = 200
REMEMBERED_CANCELS = 10_000
DEFAULT_MAX_TOKENS = {"choice": 16, "number": 384, "text": 256}
# Every cell row carries every column, so a batch is one executemany statement.
_EMPTY_CELL: dict[str, Any] = {
    "output": None,
    "extracted": None,
    "correct": False,
    "latency_ms": None,
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "cached_tokens": 0,
    "cost_usd": None,
    "finish_reason": None,
    "error": None,
    "metrics": None,
    "metric_reasons": None,
    "judge_usage": None,
}


@dataclass(frozen=True)
class Plan:
    """What a benchmark runs, loaded once per run (or per chunk)."""

    benchmark_id: str
    targets: list[dict[str, Any]]
    items: dict[int, Item]
    positions: list[int]
    repeats: int
    concurrency: int
    total_cells: int
    metrics: list[Evaluator]
    judge: dict[str, str] | None
    parameters: dict[str, dict[str, Any]]
    # The metrics by kind, sorted once: an isinstance check of a Protocol walks its
    # members on every call (8% of the loop's CPU when done per cell).
    light: list[DeterministicEvaluator]  # computed on the loop
    threaded: list[DeterministicEvaluator]  # CPU work: computed in a thread
    awaited: list[Evaluator]
    judged: bool


CellKey = tuple[int, int, int]  # (target index, item position, repeat)


def start_pending(session: Session, benchmark_id: str) -> None:
    """Mark a benchmark running if it is still pending, in the UPDATE itself.

    A status read first and written after would overwrite a cancel committed in
    between with "running", and the benchmark would be resumed on every restart.
    """
    session.execute(
        update(Benchmark)
        .where(
            Benchmark.id == benchmark_id, Benchmark.status == BenchmarkStatus.PENDING
        )
        .values(status=BenchmarkStatus.RUNNING, started_at=utcnow())
    )


class CellRunner:
    """Runs cells of benchmarks on this process' event loop and stores them."""

    def __init__(
        self,
        db: Database,
        providers: ProviderRegistry,
        events: EventBus,
        evaluators: EvaluatorRegistry,
    ) -> None:
        self.db = db
        self.providers = providers
        self.events = events
        self.evaluators = evaluators
        # Tasks running cells, by benchmark: a cancel heard from any process stops
        # them (see watch_cancels).
        self._running: dict[str, set[asyncio.Task[Any]]] = {}
        # Benchmarks heard cancelled, newest last: a run that was about to start
        # when the event came stops before its first cell.
        self._cancelled: dict[str, None] = {}
        self._stop_watching: Callable[[], None] | None = None

    def watch_cancels(self) -> None:
        """Stop this process' cells of a benchmark when any process cancels it.

        Cancelling publishes a ``cancelled`` progress event; with the Redis bus every
        process hears it, so an API worker stops the cells that another API worker
        or a Celery worker is running. Call on the loop, once the bus is started.
        """
        if self._stop_watching is None:
            self._stop_watching = self.events.listen(self._on_event)

    def unwatch_cancels(self) -> None:
        """Stop listening for cancels (at shutdown)."""
        if self._stop_watching is not None:
            self._stop_watching()
            self._stop_watching = None

    def _on_event(self, event: Event) -> None:
        if event.topic != Topic.BENCHMARK_PROGRESS:
            return
        if event.data.get("status") != BenchmarkStatus.CANCELLED:
            return
        benchmark_id = event.data.get("benchmark_id", "")
        self._cancelled[benchmark_id] = None
        if len(self._cancelled) > REMEMBERED_CANCELS:
            del self._cancelled[next(iter(self._cancelled))]
        for task in self._running.get(benchmark_id, ()):
            task.cancel()

    async def _run_cells(self, plan: Plan, work: Iterator[CellKey]) -> None:
        """Run these cells, ``plan.concurrency`` at a time, storing them as they end.

        Cancelling the task that awaits this (a cancelled benchmark, a shutdown)
        stops the cells; those already finished are stored before it returns.
        """
        pending: list[dict[str, Any]] = []
        running = self._running.setdefault(plan.benchmark_id, set())
        current = asyncio.current_task()
        assert current is not None, "called from a task"
        running.add(current)

        async def worker() -> None:
            for target_index, position, repeat in work:
                if plan.benchmark_id in self._cancelled:
                    raise asyncio.CancelledError
                cell = await self._run_cell(plan, target_index, position, repeat)
                record_benchmark_cell(cell)
                pending.append(cell)

        finished = asyncio.Event()

        async def flusher() -> None:
            # Stopped by an event, never cancelled: a cancelled await of a write
            # running in a thread returns before the write lands, and results
            # computed then would miss those cells.
            while not finished.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(finished.wait(), FLUSH_INTERVAL_S)
                await self._flush(plan, pending)
            await self._flush(plan, pending)  # cells added during the last write

        flushing = asyncio.create_task(flusher())
        try:
            await asyncio.gather(*(worker() for _ in range(plan.concurrency)))
        finally:
            running.discard(current)
            if not running:
                self._running.pop(plan.benchmark_id, None)
            finished.set()
            # Whatever happens (completion, cancellation, crash), finished cells
            # are written before this returns, so results and shutdown see them.
            try:
                await asyncio.shield(flushing)
            except asyncio.CancelledError:
                await flushing
                raise

    async def _flush(self, plan: Plan, pending: list[dict[str, Any]]) -> None:
        if not pending:
            return
        while pending:
            batch = pending[:FLUSH_BATCH]
            del pending[:FLUSH_BATCH]
            stored = await asyncio.to_thread(self._write_cells, plan, batch)
        self._publish(plan, BenchmarkStatus.RUNNING, stored)

    def _publish(
        self,
        plan: Plan,
        status: BenchmarkStatus,
        completed: int,
        error: str | None = None,
        results: dict[str, Any] | None = None,
    ) -> None:
        publish_progress(
            self.events,
            progress_data(
                plan.benchmark_id, status, completed, plan.total_cells, error, results
            ),
        )

    async def _run_cell(
        self, plan: Plan, target_index: int, position: int, repeat: int
    ) -> dict[str, Any]:
        target = plan.targets[target_index]
        item = plan.items[position]
        parameters = target.get("parameters") or {}
        cell: dict[str, Any] = _EMPTY_CELL | {
            "benchmark_id": plan.benchmark_id,
            "target_index": target_index,
            "item_position": position,
            "repeat": repeat,
        }
        try:
            completion = await self.providers.get(target["provider"]).complete(
                target["model"],
                build_prompt(item),
                max_tokens=parameters.get(
                    "max_tokens", DEFAULT_MAX_TOKENS[item.answer_type]
                ),
                temperature=parameters.get("temperature", 0.0),
            )
        except LTBError as exc:
            return cell | {"correct": False, "error": exc.message}
        except Exception as exc:
            # A bug must cost one cell (stored as an error, counted wrong), not the
            # benchmark; the traceback goes to the log for whoever fixes it.
            logger.exception("cell %s of benchmark %s failed", cell, plan.benchmark_id)
            return cell | {
                "correct": False,
                "error": f"internal error ({type(exc).__name__})",
            }

        extracted = _extract(item, completion.text)
        price = self.providers.price(target["provider"], target["model"])
        cost = cost_usd(price, completion.usage)
        case = Case(
            output=completion.text,
            input=item.input,
            expected=item.expected,
            latency_ms=completion.latency_ms,
            cost_usd=cost,
            answer_type=item.answer_type,
            choices=tuple(item.choices) if item.choices else None,
            parameters=plan.parameters,
        )
        return cell | {
            "output": completion.text,
            "extracted": extracted,
            "correct": score_answer(item.answer_type, item.expected, extracted),
            "latency_ms": completion.latency_ms,
            "prompt_tokens": completion.usage.prompt_tokens,
            "completion_tokens": completion.usage.completion_tokens,
            "cached_tokens": completion.usage.cached_prompt_tokens,
            "cost_usd": cost,
            "finish_reason": completion.finish_reason,
            **await self._score(plan, case),
        }

    async def _score(self, plan: Plan, case: Case) -> dict[str, Any]:
        """A cell's metric values, the reasons of its nulls and its judge usage."""
        results = cell_results(plan.light, case)
        if plan.threaded:
            # Off the loop: BLEU, ROUGE and user regexes are CPU work.
            results |= await asyncio.to_thread(cell_results, plan.threaded, case)
        usage = JudgeUsage()
        awaited = plan.awaited
        for metric, result in zip(
            awaited,
            await asyncio.gather(*(self._await(plan, m, case, usage) for m in awaited)),
            strict=True,
        ):
            results[metric.info.name] = result

        ordered = [results[m.info.name] for m in plan.metrics]
        names = [m.info.name for m in plan.metrics]
        return {
            "metrics": {n: r.value for n, r in zip(names, ordered, strict=True)},
            "metric_reasons": {
                n: r.reason or "no value"
                for n, r in zip(names, ordered, strict=True)
                if r.value is None
            },
            "judge_usage": usage.describe() if plan.judged else None,
        }

    async def _await(
        self, plan: Plan, metric: Evaluator, case: Case, usage: JudgeUsage
    ) -> MetricResult:
        """A plugin or judged metric's result; a failure is null with the reason."""
        try:
            if isinstance(metric, PluginEvaluator):
                return await metric.measure(case)
            assert isinstance(metric, JudgedEvaluator) and plan.judge, "validated"
            verdict = await judge_case(
                self.db,
                self.providers,
                plan.judge["provider"],
                plan.judge["model"],
                metric,
                case,
            )
        except LTBError as exc:  # the judge's provider failed
            return MetricResult.unavailable(f"judge failed: {exc.message}")
        except Exception as exc:
            logger.exception("metric %s failed on a cell", metric.info.name)
            return MetricResult.unavailable(f"internal error ({type(exc).__name__})")
        _add_usage(usage, verdict.usage)
        return verdict.result

    # The methods below run in worker threads (asyncio.to_thread): blocking I/O.

    def _load_plan(self, benchmark_id: str) -> Plan | None:
        with self.db.session() as session:
            start_pending(session, benchmark_id)
            benchmark = session.get(Benchmark, benchmark_id)
            if benchmark is None or benchmark.status not in UNFINISHED:
                return None
            rows = session.scalars(
                select(DatasetItem).where(
                    DatasetItem.dataset_id == benchmark.dataset_id,
                    DatasetItem.position.in_(benchmark.item_positions),
                )
            )
            items = {row.position: item_from_row(row) for row in rows}
            metrics = self._metrics(benchmark.metrics, benchmark.judge)
            deterministic = [
                m for m in metrics if isinstance(m, DeterministicEvaluator)
            ]
            return Plan(
                benchmark_id=benchmark.id,
                targets=list(benchmark.targets),
                items=items,
                positions=list(benchmark.item_positions),
                repeats=benchmark.repeats,
                concurrency=benchmark.concurrency,
                total_cells=benchmark.total_cells,
                metrics=metrics,
                judge=benchmark.judge,
                parameters=dict(benchmark.metric_parameters or {}),
                light=[m for m in deterministic if m.info.light],
                threaded=[m for m in deterministic if not m.info.light],
                awaited=[
                    m for m in metrics if not isinstance(m, DeterministicEvaluator)
                ],
                judged=any(isinstance(m, JudgedEvaluator) for m in metrics),
            )

    def _metrics(
        self, names: list[str], judge: dict[str, str] | None
    ) -> list[Evaluator]:
        # A stored benchmark resumed by a server whose registry has since changed
        # (a plugin uninstalled or not ready at start-up) skips the missing
        # metric rather than guessing it.
        found: list[Evaluator] = []
        for name in names:
            if name not in self.evaluators.names():
                logger.warning("metric %s is no longer registered; skipped", name)
                continue
            evaluator = self.evaluators.get(name)
            if isinstance(evaluator, JudgedEvaluator) and judge is None:
                continue  # refused at creation; never guessed
            found.append(evaluator)
        return found

    def _done_keys(self, benchmark_id: str) -> set[CellKey]:
        with self.db.session() as session:
            return stored_keys(session, benchmark_id)

    def _write_cells(self, plan: Plan, batch: list[dict[str, Any]]) -> int:
        """Store a batch; returns how many cells the benchmark has stored now."""
        with self.db.session() as session:
            insert_ignoring_duplicates(session, BenchmarkCell, batch)
            return stored_count(session, plan.benchmark_id)

    def _stored_count(self, benchmark_id: str) -> int:
        with self.db.session() as session:
            return stored_count(session, benchmark_id)

    def _complete(self, plan: Plan) -> tuple[int, dict[str, Any] | None]:
        """Store the results; returns the cell count and the results (None when a
        cancel came first)."""
        with self.db.session() as session:
            benchmark = session.get(Benchmark, plan.benchmark_id)
            assert benchmark is not None, "a running benchmark is never deleted"
            names = [m.info.name for m in plan.metrics]
            table = read_cell_table(session, benchmark, names)
            results = benchmark_results(
                plan.targets,
                table,
                benchmark.seed,
                plan.repeats,
                [m.info.describe() for m in plan.metrics],
            )
            stored = sum(t.items for t in table.totals)
            # Only a benchmark still running completes: a cancel wins the race.
            completed = session.execute(
                update(Benchmark)
                .where(
                    Benchmark.id == plan.benchmark_id,
                    Benchmark.status == BenchmarkStatus.RUNNING,
                )
                .values(
                    status=BenchmarkStatus.COMPLETED,
                    results=results,
                    finished_at=utcnow(),
                )
            )
        if completed.rowcount == 0:  # type: ignore[attr-defined]
            return stored, None
        logger.info("benchmark %s completed", plan.benchmark_id)
        return stored, results

    def _fail(self, benchmark_id: str, reason: str) -> dict[str, Any] | None:
        """Mark an unfinished benchmark failed; returns its progress event data."""
        return fail_benchmark(self.db, benchmark_id, reason)


def fail_benchmark(
    db: Database, benchmark_id: str, reason: str
) -> dict[str, Any] | None:
    """Mark an unfinished benchmark failed; its progress event data, or None if it
    had already ended."""
    with db.session() as session:
        failed = session.execute(
            update(Benchmark)
            .where(
                Benchmark.id == benchmark_id,
                Benchmark.status.in_([str(s) for s in UNFINISHED]),
            )
            .values(status=BenchmarkStatus.FAILED, error=reason, finished_at=utcnow())
        )
        benchmark = session.get(Benchmark, benchmark_id)
        if failed.rowcount == 0 or benchmark is None:  # type: ignore[attr-defined]
            return None
        return progress_data(
            benchmark_id,
            BenchmarkStatus.FAILED,
            stored_count(session, benchmark_id),
            benchmark.total_cells,
            reason,
        )


def stored_keys(session: Session, benchmark_id: str) -> set[CellKey]:
    """The keys of the cells a benchmark has stored."""
    rows = session.execute(
        select(
            BenchmarkCell.target_index,
            BenchmarkCell.item_position,
            BenchmarkCell.repeat,
        ).where(BenchmarkCell.benchmark_id == benchmark_id)
    )
    return {(t, p, r) for t, p, r in rows}


def stored_count(session: Session, benchmark_id: str) -> int:
    """How many cells a benchmark has stored."""
    stored = session.scalar(
        select(func.count()).where(BenchmarkCell.benchmark_id == benchmark_id)
    )
    return stored or 0


def cell_keys(plan: Plan) -> Iterator[CellKey]:
    """Every cell of a benchmark, always in the same order."""
    return ordered_cells(len(plan.targets), plan.positions, plan.repeats)


def ordered_cells(
    target_count: int, positions: list[int], repeats: int
) -> Iterator[CellKey]:
    """The cells of so many targets, items and repeats, in the order chunks use."""
    for target_index in range(target_count):
        for position in positions:
            for repeat in range(repeats):
                yield (target_index, position, repeat)


def missing_cells(plan: Plan, done: set[CellKey]) -> Iterator[CellKey]:
    """The cells not stored yet, produced as they are taken.

    A generator shared by all of a run's workers, so memory does not grow with
    the size of the benchmark.
    """
    return (key for key in cell_keys(plan) if key not in done)


def cell_results(
    evaluators: list[DeterministicEvaluator], case: Case
) -> dict[str, MetricResult]:
    """The result of every deterministic metric for one cell (blocking, CPU)."""
    results: dict[str, MetricResult] = {}
    for evaluator in evaluators:
        try:
            results[evaluator.info.name] = evaluator.evaluate(case)
        except LTBError as exc:  # e.g. a parameter the metric cannot use
            results[evaluator.info.name] = MetricResult.unavailable(exc.message)
        except Exception as exc:
            # A metric that fails costs its value in this cell, not the benchmark.
            logger.exception("metric %s failed on a cell", evaluator.info.name)
            reason = f"internal error ({type(exc).__name__})"
            results[evaluator.info.name] = MetricResult.unavailable(reason)
    return results


def _add_usage(total: JudgeUsage, usage: JudgeUsage) -> None:
    total.calls += usage.calls
    total.prompt_tokens += usage.prompt_tokens
    total.completion_tokens += usage.completion_tokens
    if total.cost_usd is None or usage.cost_usd is None:
        total.cost_usd = None
    else:
        total.cost_usd += usage.cost_usd


def _extract(item: Item, text: str) -> str | None:
    if item.answer_type == "choice":
        return extract_choice(text, len(item.choices or []))
    if item.answer_type == "number":
        return extract_number(text)
    return text.strip()
