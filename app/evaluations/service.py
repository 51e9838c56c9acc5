"""Creating and reading evaluations: the service every transport calls.

An evaluation scores one output with the requested metrics. Deterministic metrics
run in a worker thread (some are CPU-bound); judged ones ask the judge model on the
event loop, all metrics at once, each served from the judge cache when the same
question was asked before; plugin metrics run their plugins' processes, awaited
in threads. The overall score is the mean of the non-null values of
the metrics bounded to [0, 1] with higher better; unbounded measures (latency,
cost, length) are reported but not averaged, and null metrics are listed apart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from app.auth.service import Principal
from app.errors import BadRequest, NotFound
from app.evaluations import judge_cache
from app.evaluators.base import (
    Case,
    DeterministicEvaluator,
    Evaluator,
    JudgedEvaluator,
    Kind,
    MetricResult,
    PluginEvaluator,
    check_parameter_values,
    check_parameters,
)
from app.evaluators.judge import Judge, JudgeUsage
from app.evaluators.registry import EvaluatorRegistry
from app.providers import failures
from app.providers.registry import ProviderRegistry
from app.store.database import Database
from app.store.models import Evaluation, new_id, utcnow


@dataclass(frozen=True)
class _Scored:
    """One metric's outcome within an evaluation."""

    evaluator: Evaluator
    result: MetricResult
    cached: bool = False
    usage: JudgeUsage | None = None


@dataclass(frozen=True)
class EvaluationRequest:
    """A validated evaluation request: the case, the metrics and the judge."""

    case: Case
    metrics: list[Evaluator]
    judge_provider: str | None
    judge_model: str | None


def validate_request(
    evaluators: EvaluatorRegistry,
    providers: ProviderRegistry,
    body: dict[str, Any],
) -> EvaluationRequest:
    """Check metrics, parameters and judge before any work; 400/503 as completions."""
    names = list(body["metrics"])
    evaluators.check_known(names)
    metrics = [evaluators.get(name) for name in names]
    parameters = dict(body.get("parameters") or {})
    stray = sorted(set(parameters) - set(names))
    if stray:
        raise BadRequest(
            f"Parameters given for metrics not requested: {', '.join(stray)}",
            details={"parameters": stray, "metrics": names},
        )
    for metric in metrics:
        if isinstance(metric, PluginEvaluator):
            # Built-in metrics check their own; a plugin's are its input fields.
            check_parameters(metric.info, parameters.get(metric.info.name, {}))
        check_parameter_values(metric, parameters.get(metric.info.name, {}))

    judged = [m.info.name for m in metrics if m.info.kind == Kind.JUDGED]
    provider, model = body.get("provider"), body.get("model")
    if judged and not (provider and model):
        raise BadRequest(
            f"Judged metrics need a judge: give 'provider' and 'model' "
            f"(judged: {', '.join(judged)})",
            details={"judged_metrics": judged},
        )
    if provider is not None:
        config = providers.config(provider)  # unknown provider: 400
        if not providers.is_configured(provider) and config.api_key_env:
            raise failures.missing_key(provider, config.api_key_env)

    case = Case(
        output=body["output"],
        input=body["input"],
        expected=body.get("expected"),
        context=body.get("context"),
        latency_ms=body.get("latency_ms"),
        cost_usd=body.get("cost_usd"),
        parameters=parameters,
    )
    return EvaluationRequest(case, metrics, provider, model)


async def run_evaluation(
    db: Database,
    providers: ProviderRegistry,
    request: EvaluationRequest,
    owner: Principal,
) -> dict[str, Any]:
    """Score the case with every requested metric, store and describe the result."""
    deterministic = [
        m for m in request.metrics if isinstance(m, DeterministicEvaluator)
    ]
    judged = [m for m in request.metrics if isinstance(m, JudgedEvaluator)]
    measured = [m for m in request.metrics if isinstance(m, PluginEvaluator)]

    scored = await asyncio.to_thread(_evaluate_all, deterministic, request.case)
    scored += await asyncio.gather(
        *(_judge(db, providers, request, metric) for metric in judged),
        *(_measure(metric, request.case) for metric in measured),
    )

    by_name = {s.evaluator.info.name: s for s in scored}
    ordered = [by_name[m.info.name] for m in request.metrics]
    row = _row(request, ordered, owner)
    await asyncio.to_thread(_store, db, row)
    return evaluation_view(row)


def _evaluate_all(
    evaluators: list[DeterministicEvaluator], case: Case
) -> list[_Scored]:
    return [_Scored(evaluator, evaluator.evaluate(case)) for evaluator in evaluators]


async def _measure(evaluator: PluginEvaluator, case: Case) -> _Scored:
    return _Scored(evaluator, await evaluator.measure(case))


async def _judge(
    db: Database,
    providers: ProviderRegistry,
    request: EvaluationRequest,
    evaluator: JudgedEvaluator,
) -> _Scored:
    assert request.judge_provider and request.judge_model, "validated"
    verdict = await judge_case(
        db,
        providers,
        request.judge_provider,
        request.judge_model,
        evaluator,
        request.case,
    )
    return _Scored(evaluator, verdict.result, verdict.cached, verdict.usage)


@dataclass(frozen=True)
class Verdict:
    """A judged metric's result, whether the cache gave it, and the calls it cost."""

    result: MetricResult
    cached: bool
    usage: JudgeUsage


async def judge_case(
    db: Database,
    providers: ProviderRegistry,
    provider: str,
    model: str,
    evaluator: JudgedEvaluator,
    case: Case,
) -> Verdict:
    """Score ``case`` with a judged metric, through the judge cache.

    A cached value costs nothing (its usage is zero calls); a fresh value is
    cached. Provider errors propagate: the caller decides what they cost.
    """
    info = evaluator.info
    key = judge_cache.cache_key(provider, model, info, case)

    cached = await asyncio.to_thread(judge_cache.lookup, db, key)
    if cached is not None:
        result = MetricResult(cached.value, details=cached.evidence)
        return Verdict(result, cached=True, usage=JudgeUsage())

    judge = Judge(providers, provider, model)
    result = await evaluator.judge(case, judge)
    if result.value is not None:
        await asyncio.to_thread(
            judge_cache.store,
            db,
            key,
            provider,
            model,
            info,
            result.value,
            dict(result.details),
            judge.usage,
        )
    return Verdict(result, cached=False, usage=judge.usage)


def overall_score(scored: list[_Scored]) -> float | None:
    """Mean of the non-null values of the normalised metrics; None if there is none."""
    values = [
        s.result.value
        for s in scored
        if s.result.value is not None and s.evaluator.info.is_normalised
    ]
    return sum(values) / len(values) if values else None


def _row(
    request: EvaluationRequest, scored: list[_Scored], owner: Principal
) -> Evaluation:
    case = request.case
    usages = [s.usage for s in scored if s.usage is not None]
    costs = [u.cost_usd for u in usages]
    return Evaluation(
        id=new_id(),
        created_at=utcnow(),
        provider=request.judge_provider,
        model=request.judge_model,
        input=case.input or "",
        output=case.output,
        expected=case.expected,
        context=case.context,
        latency_ms=case.latency_ms,
        cost_usd=case.cost_usd,
        parameters={name: dict(p) for name, p in case.parameters.items()},
        score=overall_score(scored),
        metrics={s.evaluator.info.name: s.result.value for s in scored},
        details={s.evaluator.info.name: _detail(s) for s in scored},
        judge_prompt_tokens=sum(u.prompt_tokens for u in usages),
        judge_completion_tokens=sum(u.completion_tokens for u in usages),
        judge_cost_usd=(
            None if None in costs else round(sum(c or 0.0 for c in costs), 10)
        ),
        created_by=owner.user_id,
        creator=owner.username,
    )


def _detail(scored: _Scored) -> dict[str, Any]:
    info = scored.evaluator.info
    return {
        "value": scored.result.value,
        "reason": scored.result.reason,
        "kind": info.kind.public,
        "version": info.version,
        "unit": info.unit,
        "averaged": info.is_normalised and scored.result.value is not None,
        "cached": scored.cached,
        "judge": None if scored.usage is None else scored.usage.describe(),
        "evidence": dict(scored.result.details),
    }


def _store(db: Database, row: Evaluation) -> None:
    with db.session() as session:
        session.add(row)


def get_evaluation(db: Database, evaluation_id: str) -> dict[str, Any]:
    """One stored evaluation."""
    with db.session() as session:
        row = session.get(Evaluation, evaluation_id)
        if row is None:
            raise NotFound(f"Evaluation '{evaluation_id}' not found")
    return evaluation_view(row)


def list_evaluations(
    db: Database, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of evaluations, newest first."""
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(Evaluation))
        rows = session.scalars(
            select(Evaluation)
            .order_by(Evaluation.created_at.desc(), Evaluation.id)
            .offset(offset)
            .limit(limit)
        ).all()
    return [evaluation_view(row) for row in rows], total or 0


def evaluation_view(row: Evaluation) -> dict[str, Any]:
    """The API representation of an evaluation."""
    nulls = [name for name, value in row.metrics.items() if value is None]
    judge = None
    if row.provider is not None and row.model is not None:
        judge = {
            "provider": row.provider,
            "model": row.model,
            "prompt_tokens": row.judge_prompt_tokens,
            "completion_tokens": row.judge_completion_tokens,
            "cost_usd": row.judge_cost_usd,
        }
    return {
        "evaluation_id": row.id,
        "score": row.score,
        "metrics": dict(row.metrics),
        "null_metrics": nulls,
        "details": dict(row.details),
        "judge": judge,
        "provider": row.provider,
        "model": row.model,
        "input": row.input,
        "output": row.output,
        "expected": row.expected,
        "context": row.context,
        "latency_ms": row.latency_ms,
        "cost_usd": row.cost_usd,
        "parameters": dict(row.parameters),
        "created_by": row.creator,
        "created_at": row.created_at,
    }


def results_event(view: dict[str, Any]) -> dict[str, Any]:
    """The evaluation.results event data: JSON types only."""
    return {
        "evaluation_id": view["evaluation_id"],
        "score": view["score"],
        "metrics": view["metrics"],
        "created_at": view["created_at"].isoformat(),
        "created_by": view["created_by"],
    }
