"""The registry of metrics: the built-in ones, and any a plugin registers.

An evaluator is any object with an ``info`` (a ``MetricInfo``) and, by its kind,
``evaluate(case) -> MetricResult`` (deterministic: synchronous, no I/O),
``async judge(case, judge) -> MetricResult`` (judged) or
``async measure(case) -> MetricResult`` (plugin: run out of process, awaited).
At start-up, ``app.plugins.metrics.register_plugin_metrics`` registers one
plugin metric per ready evaluator plugin, named ``plugin:<plugin name>``.
Names are unique: registering a name twice is an error, so a plugin cannot
silently replace a built-in metric.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from app.errors import BadRequest
from app.evaluators.base import (
    DeterministicEvaluator,
    Evaluator,
    JudgedEvaluator,
    Kind,
    MetricInfo,
    PluginEvaluator,
)
from app.evaluators.judged import Coherence, Faithfulness, Relevance
from app.evaluators.matching import (
    Accuracy,
    Contains,
    ExactMatch,
    JsonValid,
    NumericMatch,
    RegexMatch,
)
from app.evaluators.measures import Cost, Latency, Length
from app.evaluators.overlap import Bleu, RougeL, TokenF1

logger = logging.getLogger(__name__)

# What each kind of evaluator must implement.
_PROTOCOLS: dict[Kind, tuple[type, str]] = {
    Kind.DETERMINISTIC: (DeterministicEvaluator, "evaluate"),
    Kind.JUDGED: (JudgedEvaluator, "judge"),
    Kind.PLUGIN: (PluginEvaluator, "measure"),
}


class EvaluatorRegistry:
    """Metrics by name; safe to read while another thread registers."""

    def __init__(self, evaluators: Iterable[Evaluator] = ()) -> None:
        self._evaluators: dict[str, Evaluator] = {}
        self._lock = threading.Lock()
        for evaluator in evaluators:
            self.register(evaluator)

    def register(self, evaluator: Evaluator) -> None:
        """Add a metric; ValueError if its name is taken or its shape is wrong."""
        info = getattr(evaluator, "info", None)
        if not isinstance(info, MetricInfo):
            raise ValueError("an evaluator must have an 'info' that is a MetricInfo")
        protocol, method = _PROTOCOLS[info.kind]
        if not isinstance(evaluator, protocol):
            raise ValueError(
                f"evaluator {info.name!r} of kind {info.kind} must implement {method}()"
            )
        with self._lock:
            if info.name in self._evaluators:
                raise ValueError(f"an evaluator named {info.name!r} is registered")
            self._evaluators = {**self._evaluators, info.name: evaluator}
        logger.debug("registered evaluator %s (%s)", info.name, info.kind)

    def get(self, name: str) -> Evaluator:
        """The named metric; BadRequest naming the known ones if there is none."""
        self.check_known([name])
        return self._evaluators[name]

    def names(self) -> list[str]:
        """Every registered metric name, sorted."""
        return sorted(self._evaluators)

    def check_known(self, names: Iterable[str]) -> None:
        """Raise BadRequest naming every unknown metric and listing the known."""
        unknown = [name for name in names if name not in self._evaluators]
        if unknown:
            known = self.names()
            raise BadRequest(
                f"Unknown metrics: {', '.join(unknown)}; known metrics: "
                f"{', '.join(known)}",
                details={"metrics": unknown, "known": known},
            )

    def describe(self) -> list[dict[str, Any]]:
        """Every metric's declaration, by name."""
        evaluators = self._evaluators
        return [evaluators[name].info.describe() for name in sorted(evaluators)]


def builtin_evaluators() -> list[Evaluator]:
    """One instance of every metric the product ships."""
    return [
        ExactMatch(),
        Contains(),
        RegexMatch(),
        Accuracy(),
        NumericMatch(),
        TokenF1(),
        Bleu(),
        RougeL(),
        JsonValid(),
        Latency(),
        Cost(),
        Length(),
        Faithfulness(),
        Relevance(),
        Coherence(),
    ]


def builtin_registry() -> EvaluatorRegistry:
    """A registry holding the built-in metrics, ready for plugins to add theirs."""
    return EvaluatorRegistry(builtin_evaluators())
