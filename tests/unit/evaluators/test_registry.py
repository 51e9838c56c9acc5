"""The evaluator registry: what it lists, and how a plugin adds a metric."""

from __future__ import annotations

import pytest

from app.errors import BadRequest
from app.evaluators import Case, Kind, MetricInfo, MetricResult, Need, builtin_registry

BUILTIN = [
    "accuracy", "bleu", "coherence", "contains", "cost", "exact_match",
    "faithfulness", "json_valid", "latency", "length", "numeric_match", "regex",
    "relevance", "rouge_l", "token_f1",
]  # fmt: skip


class Shouting:
    """A plugin's metric: the share of upper-case letters."""

    info = MetricInfo(
        name="shouting",
        description="Share of letters in upper case.",
        needs=frozenset({Need.OUTPUT}),
        minimum=0.0,
        maximum=1.0,
        higher_is_better=False,
        kind=Kind.DETERMINISTIC,
        version="1",
    )

    def evaluate(self, case: Case) -> MetricResult:
        letters = [c for c in case.output if c.isalpha()]
        return MetricResult(sum(c.isupper() for c in letters) / len(letters))


def test_the_builtin_metrics_are_listed_with_their_declarations() -> None:
    described = {d["name"]: d for d in builtin_registry().describe()}
    assert sorted(described) == BUILTIN
    assert described["faithfulness"]["kind"] == "judged"
    assert described["faithfulness"]["needs"] == [
        "context",
        "expected",
        "input",
        "judge",
        "output",
    ]
    assert described["latency"]["range"] == {"min": 0.0, "max": None}
    assert described["latency"]["higher_is_better"] is False
    assert described["latency"]["unit"] == "ms"
    assert described["token_f1"]["range"] == {"min": 0.0, "max": 1.0}


def test_a_plugin_registers_a_metric_once() -> None:
    registry = builtin_registry()
    registry.register(Shouting())
    assert "shouting" in registry.names()
    assert registry.get("shouting").evaluate(Case("ABc")).value == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="'shouting' is registered"):
        registry.register(Shouting())


def test_a_judged_metric_without_judge_is_refused_at_registration() -> None:
    class Broken(Shouting):
        info = MetricInfo(
            **{**Shouting.info.__dict__, "name": "b", "kind": Kind.JUDGED}
        )

    with pytest.raises(ValueError, match="must implement judge"):
        builtin_registry().register(Broken())


def test_an_unknown_metric_is_named_and_the_known_ones_listed() -> None:
    with pytest.raises(BadRequest, match="Unknown metrics: nope") as raised:
        builtin_registry().check_known(["exact_match", "nope"])
    assert raised.value.details == {"metrics": ["nope"], "known": BUILTIN}


def test_only_bounded_metrics_run_on_the_benchmark_loop() -> None:
    # The engine computes light metrics on its event loop: a metric that runs a
    # user's pattern (regex) or builds n-gram tables must stay in a thread, or
    # one slow cell would stall every cell in flight.
    registry = builtin_registry()
    light = sorted(name for name in registry.names() if registry.get(name).info.light)

    assert light == ["accuracy", "contains", "cost", "exact_match", "latency", "length"]
    assert "light" not in registry.get("accuracy").info.describe()
