"""Creating, reading and cancelling benchmarks: the service every transport calls."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.auth.permissions import Role
from app.auth.service import Principal
from app.benchmarks.aggregate import benchmark_results, read_cell_table
from app.benchmarks.items import item_from_row
from app.benchmarks.lifecycle import UNFINISHED, BenchmarkStatus, check_transition
from app.benchmarks.prompts import build_prompt
from app.datasets.service import resolve_dataset
from app.errors import BadRequest, Forbidden, NotFound
from app.evaluators.base import Kind, check_parameter_values, check_parameters
from app.evaluators.registry import EvaluatorRegistry
from app.providers.config import ProviderConfig
from app.providers.registry import ProviderRegistry
from app.store.database import Database
from app.store.models import Benchmark, BenchmarkCell, Dataset, DatasetItem, utcnow


def create_benchmark(
    db: Database,
    providers: ProviderRegistry,
    evaluators: EvaluatorRegistry,
    request: dict[str, Any],
    owner: Principal,
) -> dict[str, Any]:
    """Validate a benchmark request, sample its items and store it as pending."""
    _check_judge_used(evaluators, request["metrics"], request.get("judge"))
    _check_configured(providers, request["providers"], request.get("judge"))
    targets = [_target(t) for t in request["providers"]]
    judge = _judge(request.get("judge"))
    _check_metrics(evaluators, request["metrics"], judge)
    parameters = _metric_parameters(evaluators, request)

    dataset = resolve_dataset(db, request["dataset"])
    if dataset.item_count == 0:
        raise BadRequest(f"Dataset '{dataset.name}' has no items")
    seed = request.get("seed", 0)
    positions = sample_positions(dataset.item_count, request["iterations"], seed)
    repeats = request.get("repeats", 1)

    benchmark = Benchmark(
        name=request["name"],
        status=BenchmarkStatus.PENDING,
        dataset_id=dataset.id,
        targets=targets,
        metrics=list(request["metrics"]),
        judge=judge,
        metric_parameters=parameters or None,
        iterations=request["iterations"],
        repeats=repeats,
        concurrency=request.get("concurrency", 4),
        seed=seed,
        item_positions=positions,
        total_cells=len(targets) * len(positions) * repeats,
        created_by=owner.user_id,
    )
    with db.session() as session:
        session.add(benchmark)
    return benchmark_view(benchmark, dataset, completed_cells=0)


def sample_positions(item_count: int, iterations: int, seed: int) -> list[int]:
    """Which items a benchmark runs: the same for the same seed, all if too few."""
    if iterations >= item_count:
        return list(range(item_count))
    return sorted(random.Random(seed).sample(range(item_count), iterations))


def get_benchmark(db: Database, benchmark_id: str) -> dict[str, Any]:
    """A benchmark with its progress (and results once completed)."""
    with db.session() as session:
        benchmark = _get(session, benchmark_id)
        upgrade_results(session, benchmark)
        dataset = session.get(Dataset, benchmark.dataset_id)
        assert dataset is not None, "a benchmark's dataset is never deleted"
        done = _count_cells(session, benchmark_id)
    return benchmark_view(benchmark, dataset, done)


def list_benchmarks(
    db: Database, offset: int, limit: int, status: str | None
) -> tuple[list[dict[str, Any]], int]:
    """A page of benchmarks, newest first."""
    query = select(Benchmark)
    if status:
        query = query.where(Benchmark.status == status)
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(
            query.order_by(Benchmark.created_at.desc(), Benchmark.id)
            .offset(offset)
            .limit(limit)
        ).all()
        for row in rows:
            upgrade_results(session, row)
        done = _count_cells_of(session, [row.id for row in rows])
        datasets = {
            d.id: d
            for d in session.scalars(
                select(Dataset).where(Dataset.id.in_({r.dataset_id for r in rows}))
            )
        }
    views = [benchmark_view(r, datasets[r.dataset_id], done.get(r.id, 0)) for r in rows]
    return views, total or 0


def cancel_benchmark(db: Database, benchmark_id: str, caller: Principal) -> None:
    """Mark a benchmark cancelled; only its owner or an admin may.

    Of several cancels at once exactly one succeeds and the others are a Conflict,
    as a cancel after it would be: the status is checked by the UPDATE itself, so
    no other cancel (or the engine finishing) can change it in between.
    """
    with db.session() as session:
        benchmark = _get(session, benchmark_id)
        if caller.role != Role.ADMIN and benchmark.created_by != caller.user_id:
            raise Forbidden("Only the benchmark's owner or an admin may cancel it")
        check_transition(benchmark.status, BenchmarkStatus.CANCELLED)
        cancelled = session.execute(
            update(Benchmark)
            .where(
                Benchmark.id == benchmark_id,
                Benchmark.status.in_([str(s) for s in UNFINISHED]),
            )
            .values(status=BenchmarkStatus.CANCELLED, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if cancelled.rowcount == 0:  # type: ignore[attr-defined]
            # Finished or cancelled since we read it: refuse as for its status now.
            session.expire(benchmark)
            check_transition(benchmark.status, BenchmarkStatus.CANCELLED)


def list_cells(
    db: Database, benchmark_id: str, offset: int, limit: int, target: int | None
) -> tuple[list[dict[str, Any]], int]:
    """A page of a benchmark's stored cells, by target, item and repeat."""
    with db.session() as session:
        benchmark = _get(session, benchmark_id)
        check_target(benchmark, target)
        query = select(BenchmarkCell).where(BenchmarkCell.benchmark_id == benchmark_id)
        if target is not None:
            query = query.where(BenchmarkCell.target_index == target)
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        cells = session.scalars(
            query.order_by(
                BenchmarkCell.target_index,
                BenchmarkCell.item_position,
                BenchmarkCell.repeat,
            )
            .offset(offset)
            .limit(limit)
        ).all()
        items = _items_at(
            session, benchmark.dataset_id, {c.item_position for c in cells}
        )
    views = [_cell_view(benchmark, c, items[c.item_position]) for c in cells]
    return views, total or 0


def check_target(benchmark: Benchmark, target: int | None) -> None:
    """A target index the benchmark does not have is not found (an empty page
    would read as a target with nothing stored). Not a 400: the index is a valid
    one, of a target this benchmark lacks."""
    count = len(benchmark.targets)
    if target is not None and not 0 <= target < count:
        raise NotFound(
            f"Benchmark '{benchmark.id}' has no target {target}: its targets are "
            f"0 to {count - 1}",
            details={"target": target, "targets": count},
        )


def upgrade_results(session: Session, benchmark: Benchmark) -> None:
    """Recompute results stored before intervals or n_items existed, once.

    A benchmark completed by an earlier version of the server has results without
    intervals, frontier or statistics; the API documents those as always present.
    Its cells are all stored, so the same aggregation the engine runs today gives
    them, and they are saved so this happens once. Which evaluator versions scored
    those cells was not recorded then, so that list stays empty.
    """
    stored = benchmark.results
    if stored is None:
        return
    # Results before n_items gave repeated cells a Wilson interval as if they
    # were independent: those are recomputed too.
    if "statistics" in stored and all("n_items" in t for t in stored["targets"]):
        return
    table = read_cell_table(session, benchmark, list(benchmark.metrics))
    results = benchmark_results(
        list(benchmark.targets), table, benchmark.seed, benchmark.repeats
    )
    # The evaluator versions, where they were recorded, stay as recorded.
    results["evaluators"] = stored.get("evaluators", [])
    benchmark.results = results


def benchmark_view(
    benchmark: Benchmark, dataset: Dataset, completed_cells: int
) -> dict[str, Any]:
    """The API representation of a benchmark."""
    total = benchmark.total_cells
    return {
        "benchmark_id": benchmark.id,
        "name": benchmark.name,
        "status": benchmark.status,
        "progress": min(1.0, completed_cells / total) if total else 1.0,
        "results": benchmark.results
        if benchmark.status == BenchmarkStatus.COMPLETED
        else None,
        "dataset": {
            "id": dataset.id,
            "name": dataset.name,
            "version": dataset.version,
            "content_hash": dataset.content_hash,
        },
        "providers": benchmark.targets,
        "metrics": benchmark.metrics,
        "judge": benchmark.judge,
        "parameters": benchmark.metric_parameters or {},
        "iterations": benchmark.iterations,
        "repeats": benchmark.repeats,
        "concurrency": benchmark.concurrency,
        "seed": benchmark.seed,
        "total_cells": total,
        "completed_cells": completed_cells,
        "error": benchmark.error,
        "created_at": benchmark.created_at,
        "started_at": benchmark.started_at,
        "finished_at": benchmark.finished_at,
    }


def _check_metrics(
    evaluators: EvaluatorRegistry, names: list[str], judge: dict[str, str] | None
) -> None:
    evaluators.check_known(names)
    judged = [n for n in names if evaluators.get(n).info.kind == Kind.JUDGED]
    if judged and judge is None:
        raise BadRequest(
            "Judged metrics need a judge: give 'judge' {provider, model} "
            f"(judged: {', '.join(judged)})",
            details={"judged_metrics": judged},
        )


def _check_judge_used(
    evaluators: EvaluatorRegistry, names: list[str], judge: dict[str, Any] | None
) -> None:
    # Checked first: a judge no metric asks is a mistake (a judged metric left out,
    # most likely) whatever else the request holds, and no cell would ever call it.
    if judge is None:
        return
    evaluators.check_known(names)
    if any(evaluators.get(name).info.kind == Kind.JUDGED for name in names):
        return
    judged = [
        name
        for name in evaluators.names()
        if evaluators.get(name).info.kind == Kind.JUDGED
    ]
    raise BadRequest(
        "'judge' is given but no requested metric uses it: add a judged metric "
        f"({', '.join(judged)}) to 'metrics', or leave 'judge' out",
        details={
            "errors": [{"field": "judge", "message": "no requested metric uses it"}],
            "judged_metrics": judged,
        },
    )


def _metric_parameters(
    evaluators: EvaluatorRegistry, request: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    parameters = dict(request.get("parameters") or {})
    stray = sorted(set(parameters) - set(request["metrics"]))
    if stray:
        raise BadRequest(
            f"Parameters given for metrics not requested: {', '.join(stray)}",
            details={"parameters": stray, "metrics": request["metrics"]},
        )
    # Every metric, with or without parameters: a plugin metric may require one.
    for name in request["metrics"]:
        evaluator = evaluators.get(name)
        given = parameters.get(name, {})
        check_parameters(evaluator.info, given)
        check_parameter_values(evaluator, given)
    return parameters


def _judge(judge: dict[str, Any] | None) -> dict[str, str] | None:
    if judge is None:
        return None
    return {"provider": judge["provider"], "model": judge["model"]}


def _check_configured(
    providers: ProviderRegistry,
    targets: list[dict[str, Any]],
    judge: dict[str, Any] | None,
) -> None:
    # Every target and the judge are checked before refusing, so one answer names
    # every key to set (unknown names are refused first, by config(): a 400 of
    # their own).
    configs = [
        _config(providers, target["provider"], f"providers.{index}.provider")
        for index, target in enumerate(targets)
    ]
    judge_config = (
        None
        if judge is None
        else _config(providers, judge["provider"], "judge.provider")
    )
    missing = {
        str(index): config
        for index, config in enumerate(configs)
        if not providers.is_configured(config.name)
    }
    judge_missing = judge_config is not None and not providers.is_configured(
        judge_config.name
    )
    if not missing and not judge_missing:
        return
    unusable = list(missing.values()) + ([judge_config] if judge_missing else [])
    needs = dict.fromkeys(
        f"'{config.name}' (set {config.api_key_env})"
        for config in unusable
        if config is not None
    )
    noun = "Provider" if len(needs) == 1 else "Providers"
    details: dict[str, Any] = {}
    if missing:
        details["providers"] = {i: config.name for i, config in missing.items()}
    if judge_missing and judge is not None:
        details["judge"] = judge["provider"]
    raise BadRequest(f"{noun} not configured: {', '.join(needs)}", details=details)


def _config(providers: ProviderRegistry, name: str, field: str) -> ProviderConfig:
    """The provider's configuration; an unknown one is refused naming its field
    (which of several targets), as a schema failure is."""
    try:
        return providers.config(name)
    except BadRequest as error:
        error.details = {
            **error.details,
            "errors": [{"field": field, "message": "is not a configured provider"}],
        }
        raise


def _target(target: dict[str, Any]) -> dict[str, Any]:
    clean = {"provider": target["provider"], "model": target["model"]}
    if target.get("parameters"):
        clean["parameters"] = dict(target["parameters"])
    return clean


def _get(session: Session, benchmark_id: str) -> Benchmark:
    benchmark = session.get(Benchmark, benchmark_id)
    if benchmark is None:
        raise NotFound(f"Benchmark '{benchmark_id}' not found")
    return benchmark


def _count_cells(session: Session, benchmark_id: str) -> int:
    return _count_cells_of(session, [benchmark_id]).get(benchmark_id, 0)


def _count_cells_of(session: Session, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(BenchmarkCell.benchmark_id, func.count())
        .where(BenchmarkCell.benchmark_id.in_(ids))
        .group_by(BenchmarkCell.benchmark_id)
    )
    return {benchmark_id: count for benchmark_id, count in rows}


def _items_at(
    session: Session, dataset_id: str, positions: set[int]
) -> dict[int, DatasetItem]:
    rows = session.scalars(
        select(DatasetItem).where(
            DatasetItem.dataset_id == dataset_id, DatasetItem.position.in_(positions)
        )
    )
    return {row.position: row for row in rows}


def _cell_view(
    benchmark: Benchmark, cell: BenchmarkCell, item: DatasetItem
) -> dict[str, Any]:
    target = benchmark.targets[cell.target_index]
    return {
        "target_index": cell.target_index,
        "provider": target["provider"],
        "model": target["model"],
        "item_key": item.key,
        "item_position": cell.item_position,
        "repeat": cell.repeat,
        "prompt": build_prompt(item_from_row(item)),
        "expected": item.expected,
        "output": cell.output,
        "extracted": cell.extracted,
        "correct": cell.correct,
        "latency_ms": cell.latency_ms,
        "prompt_tokens": cell.prompt_tokens,
        "completion_tokens": cell.completion_tokens,
        "cost_usd": cell.cost_usd,
        "finish_reason": cell.finish_reason,
        "error": cell.error,
        "metrics": cell.metrics,
        "metric_reasons": cell.metric_reasons,
        "judge": cell.judge_usage,
    }
