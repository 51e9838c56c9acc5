"""Measures of the completion itself: how long it took, what it cost, how long it is.

These are facts about a completion, not comparisons, and they are never estimated:
latency and cost exist only when whoever produced the output measured them (the
benchmark engine always does; a caller of POST /v1/evaluations may pass them), and
are null with a reason otherwise.
"""

from __future__ import annotations

from app.evaluators.base import Case, Kind, MetricInfo, MetricResult, Need


def _info(name: str, description: str, unit: str, needs: frozenset[Need]) -> MetricInfo:
    # Each of these reads one number or one length: light enough for the loop.
    return MetricInfo(
        name=name,
        description=description,
        needs=needs,
        minimum=0.0,
        maximum=None,
        higher_is_better=False,
        kind=Kind.DETERMINISTIC,
        version="1",
        unit=unit,
        light=True,
    )


class Latency:
    """The measured wall time of the completion."""

    info = _info(
        "latency",
        "Wall time of the completion that produced the output, in milliseconds: "
        "the `latency_ms` given with the evaluation (or measured by the benchmark "
        "engine). Null when it was not given; never estimated.",
        "ms",
        frozenset({Need.LATENCY}),
    )

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        if case.latency_ms is None:
            return MetricResult.unavailable("the completion's latency was not given")
        return MetricResult(case.latency_ms)


class Cost:
    """The priced cost of the completion."""

    info = _info(
        "cost",
        "Cost of the completion that produced the output, in USD: the `cost_usd` "
        "given with the evaluation (or priced by the benchmark engine from the "
        "provider's token usage). Null when it was not given or the model has no "
        "price; never estimated.",
        "usd",
        frozenset({Need.COST}),
    )

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        if case.cost_usd is None:
            return MetricResult.unavailable("the completion's cost is not known")
        return MetricResult(case.cost_usd)


class Length:
    """The length of the output in characters."""

    info = _info(
        "length",
        "Length of the output in characters (Unicode code points), surrounding "
        "whitespace included. Tokens are not used: they depend on the model's "
        "tokeniser.",
        "characters",
        frozenset({Need.OUTPUT}),
    )

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        return MetricResult(float(len(case.output)))
