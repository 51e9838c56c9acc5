"""Evaluators: metrics that score a model's output, and the registry that holds them."""

from __future__ import annotations

from app.evaluators.base import (
    Case,
    DeterministicEvaluator,
    Evaluator,
    JudgedEvaluator,
    Kind,
    MetricInfo,
    MetricResult,
    Need,
)
from app.evaluators.judge import Judge
from app.evaluators.registry import EvaluatorRegistry, builtin_registry

__all__ = [
    "Case",
    "DeterministicEvaluator",
    "Evaluator",
    "EvaluatorRegistry",
    "Judge",
    "JudgedEvaluator",
    "Kind",
    "MetricInfo",
    "MetricResult",
    "Need",
    "builtin_registry",
]
