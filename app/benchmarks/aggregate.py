"""Per-target aggregates of a benchmark, computed from its stored cells."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.benchmarks.statistics import latency_summary


@dataclass
class _TargetTotals:
    items: int = 0
    errors: int = 0
    correct: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    priced: bool = True
    latencies: list[float] = field(default_factory=list)
    metric_values: dict[str, list[float]] = field(default_factory=dict)
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    judge_cost_usd: float | None = 0.0


@dataclass(frozen=True)
class CellFigures:
    """The figures of one stored cell that aggregates are made of."""

    target_index: int
    correct: bool
    error: str | None
    latency_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    # The cell's value of each benchmark metric; None for a cell with an error.
    metrics: dict[str, float | None] | None = None
    # What the judge calls of the cell's judged metrics consumed (JudgeUsage).
    judge_usage: dict[str, Any] | None = None


def aggregate_targets(
    targets: list[dict[str, Any]],
    cells: Iterable[CellFigures],
    metric_names: Sequence[str] = (),
) -> dict[str, Any]:
    """Sum cells per target: accuracy (errors count as wrong), latency, tokens, cost.

    ``metrics`` holds, per requested metric, the mean of the cells that have a
    value for it: cells whose provider call failed, and cells where the metric
    is null (e.g. an unpriced model's cost), are left out of that mean.
    """
    totals = [_TargetTotals() for _ in targets]
    for cell in cells:
        _add_metrics(totals[cell.target_index], cell)
        _add_judge_usage(totals[cell.target_index], cell.judge_usage)
        t = totals[cell.target_index]
        t.items += 1
        t.correct += int(cell.correct)
        t.prompt_tokens += cell.prompt_tokens
        t.completion_tokens += cell.completion_tokens
        if cell.error is not None:
            t.errors += 1
            continue
        if cell.latency_ms is not None:
            t.latencies.append(cell.latency_ms)
        if cell.cost_usd is None:
            t.priced = False
        else:
            t.cost_usd += cell.cost_usd

    return {
        "targets": [
            _target_view(index, target, t, metric_names)
            for index, (target, t) in enumerate(zip(targets, totals, strict=True))
        ]
    }


def _add_metrics(t: _TargetTotals, cell: CellFigures) -> None:
    for name, value in (cell.metrics or {}).items():
        if value is not None:
            t.metric_values.setdefault(name, []).append(value)


def _add_judge_usage(t: _TargetTotals, usage: dict[str, Any] | None) -> None:
    if usage is None:
        return
    t.judge_prompt_tokens += usage["prompt_tokens"]
    t.judge_completion_tokens += usage["completion_tokens"]
    cost = usage["cost_usd"]
    t.judge_cost_usd = (
        None if cost is None or t.judge_cost_usd is None else (t.judge_cost_usd + cost)
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _target_view(
    index: int, target: dict[str, Any], t: _TargetTotals, metric_names: Sequence[str]
) -> dict[str, Any]:
    return {
        "target_index": index,
        "provider": target["provider"],
        "model": target["model"],
        "parameters": target.get("parameters") or {},
        "items": t.items,
        "errors": t.errors,
        "correct": t.correct,
        "accuracy": t.correct / t.items if t.items else None,
        "latency_ms": latency_summary(t.latencies),
        "prompt_tokens": t.prompt_tokens,
        "completion_tokens": t.completion_tokens,
        # A target whose model has no price has no cost, rather than a wrong one.
        "cost_usd": round(t.cost_usd, 10) if t.priced else None,
        "metrics": {
            name: _mean(t.metric_values.get(name, [])) for name in metric_names
        },
        # Judged metrics' calls; null cost when the judge model has no price.
        "judge_prompt_tokens": t.judge_prompt_tokens,
        "judge_completion_tokens": t.judge_completion_tokens,
        "judge_cost_usd": (
            None if t.judge_cost_usd is None else round(t.judge_cost_usd, 10)
        ),
    }
