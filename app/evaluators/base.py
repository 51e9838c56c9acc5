"""What an evaluator is: its declaration, the case it scores and the result it gives.

An evaluator turns one case (a model's output, and what it was asked and expected to
say) into one metric value, or into ``None`` with a reason when the value cannot be
known. Values are never invented: a metric that lacks what it needs says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from app.errors import BadRequest

if TYPE_CHECKING:
    from app.evaluators.judge import Judge


class Need(StrEnum):
    """A piece of a case that an evaluator reads."""

    INPUT = "input"
    OUTPUT = "output"
    EXPECTED = "expected"
    CONTEXT = "context"
    JUDGE = "judge"
    # Measurements of the completion that produced the output.
    LATENCY = "latency"
    COST = "cost"


class Kind(StrEnum):
    """How a metric is computed: by code here, by a judge model, or by a plugin.

    A plugin metric is deterministic to its users (no judge), but its code runs
    in a plugin's worker process, so it is awaited rather than called.
    """

    DETERMINISTIC = "deterministic"
    JUDGED = "judged"
    PLUGIN = "plugin"

    @property
    def public(self) -> str:
        """The kind the API shows: a plugin metric needs no judge, so deterministic."""
        return str(Kind.JUDGED if self is Kind.JUDGED else Kind.DETERMINISTIC)


@dataclass(frozen=True)
class MetricInfo:
    """The declaration every evaluator carries; GET /v1/evaluators lists these.

    ``maximum`` is None for an unbounded measure (latency, cost, length); only
    metrics bounded to [0, 1] take part in an evaluation's overall score.
    ``parameters`` maps each accepted parameter name to what it means.
    """

    name: str
    description: str
    needs: frozenset[Need]
    minimum: float
    maximum: float | None
    higher_is_better: bool
    kind: Kind
    version: str
    unit: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    # The evaluator plugin behind a plugin metric: its id, name and version.
    plugin: Mapping[str, str] | None = None
    # Small, bounded work per case (no user-supplied pattern, no n-gram tables): the
    # benchmark engine computes it on the event loop, where handing every cell to a
    # thread would cost more than the metric. Not part of the API's description.
    light: bool = False

    @property
    def is_normalised(self) -> bool:
        """Whether values lie in [0, 1] with higher better, so they can be averaged."""
        return self.minimum == 0.0 and self.maximum == 1.0 and self.higher_is_better

    def describe(self) -> dict[str, Any]:
        """The API representation of the declaration."""
        return {
            "name": self.name,
            "description": self.description,
            "needs": sorted(self.needs),
            "range": {"min": self.minimum, "max": self.maximum},
            "higher_is_better": self.higher_is_better,
            "kind": self.kind.public,
            "version": self.version,
            "unit": self.unit,
            "parameters": dict(self.parameters),
            "plugin": None if self.plugin is None else dict(self.plugin),
        }


@dataclass(frozen=True)
class Case:
    """What one evaluation scores.

    ``latency_ms`` and ``cost_usd`` describe the completion that produced
    ``output`` when the caller (or a benchmark) measured them; ``answer_type`` and
    ``choices`` come from a dataset item and make answer extraction exact.
    """

    output: str
    input: str | None = None
    expected: str | None = None
    context: str | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    answer_type: str | None = None
    choices: tuple[str, ...] | None = None
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def parameters_of(self, metric: str) -> Mapping[str, Any]:
        """The parameters given for one metric (empty when none were)."""
        return self.parameters.get(metric, {})


@dataclass(frozen=True)
class MetricResult:
    """One metric's value, or None with the reason it could not be computed."""

    value: float | None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def unavailable(cls, reason: str) -> MetricResult:
        """A metric that has no value for this case."""
        return cls(None, reason)


@runtime_checkable
class DeterministicEvaluator(Protocol):
    """A metric computed by code alone; ``evaluate`` may be CPU-bound, never I/O."""

    info: MetricInfo

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        ...


@runtime_checkable
class JudgedEvaluator(Protocol):
    """A metric computed by asking a judge model about the case."""

    info: MetricInfo

    async def judge(self, case: Case, judge: Judge) -> MetricResult:
        """Score one case with the judge's help."""
        ...


@runtime_checkable
class PluginEvaluator(Protocol):
    """A metric computed by an evaluator plugin in its own process.

    ``measure`` never raises for a failing plugin: a timeout, crash, unusable
    output or a plugin disabled since start-up gives a null value with the reason.
    """

    info: MetricInfo

    async def measure(self, case: Case) -> MetricResult:
        """Score one case by running the plugin (awaited off the event loop)."""
        ...


Evaluator = DeterministicEvaluator | JudgedEvaluator | PluginEvaluator


class MetricParameterError(BadRequest):
    """A metric was given a parameter it does not accept, or a value it cannot use."""


def check_parameters(info: MetricInfo, given: Mapping[str, Any]) -> None:
    """Refuse parameter names the metric does not declare."""
    unknown = sorted(set(given) - set(info.parameters))
    if unknown:
        raise MetricParameterError(
            f"Metric '{info.name}' has no parameter {', '.join(unknown)}",
            details={
                "metric": info.name,
                "unknown_parameters": unknown,
                "known_parameters": sorted(info.parameters),
            },
        )


def check_parameter_values(evaluator: object, given: Mapping[str, Any]) -> None:
    """Refuse parameter values an evaluator can tell are unusable before any run.

    An evaluator may define ``check_values(parameters)`` (a regex pattern that does
    not compile); without this, every cell would score null instead of a 400.
    """
    check = getattr(evaluator, "check_values", None)
    if check is not None:
        check(given)
