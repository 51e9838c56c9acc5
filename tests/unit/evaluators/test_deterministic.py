"""Every deterministic metric on hand-checked cases."""

from __future__ import annotations

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from app.evaluators.base import Case, MetricParameterError
from app.evaluators.overlap import MAX_LCS_CELLS, RougeL
from app.evaluators.registry import builtin_registry

REGISTRY = builtin_registry()


def score(
    metric: str, output: str, expected: str | None = None, **extra
) -> float | None:
    evaluator = REGISTRY.get(metric)
    return evaluator.evaluate(Case(output=output, expected=expected, **extra)).value


@pytest.mark.parametrize(
    ("metric", "output", "expected", "value"),
    [
        ("exact_match", "4", "4", 1.0),
        ("exact_match", " 4\n", "4", 1.0),
        ("exact_match", "four", "4", 0.0),
        ("exact_match", "Paris", "paris", 0.0),
        ("contains", "The answer is 4.", "4", 1.0),
        ("contains", "The capital is  PARIS\tof course", "capital is paris", 1.0),
        ("contains", "The capital is Lyon", "Paris", 0.0),
        ("regex", "Order 12345 shipped", r"\d{5}", 1.0),
        ("regex", "12a", r"^\d+$", 0.0),
        ("accuracy", "Answer: B", "B", 1.0),
        ("accuracy", "I think the answer is C.", "B", 0.0),
        ("accuracy", "E", "E", 1.0),
        ("accuracy", "The total is $1,000.", "1000", 1.0),
        ("accuracy", "5 + 7 = 12, so the answer is 12.0", "12", 1.0),
        ("accuracy", "  Paris ", "paris", 1.0),
        ("accuracy", "It is Paris", "paris", 0.0),
        ("numeric_match", "#### 72", "72", 1.0),
        ("numeric_match", "She pays $1,250.50 in total", "1250.5", 1.0),
        ("numeric_match", "3.14", "3.1416", 0.0),
        ("numeric_match", "no number at all", "3", 0.0),
        ("token_f1", "the Eiffel Tower", "Eiffel Tower", 1.0),
        ("token_f1", "Paris!", "paris", 1.0),
        ("token_f1", "Eiffel Tower in Paris", "the Eiffel Tower", 2 / 3),
        ("token_f1", "Denver Broncos", "Broncos", 2 / 3),
        ("token_f1", "an apple a day", "the orange", 0.0),
        ("token_f1", "the", "a", 1.0),  # both empty after normalisation
        ("token_f1", "", "Broncos", 0.0),
        ("token_f1", "cat cat dog", "cat dog dog", 2 / 3),
        ("rouge_l", "the cat is on the mat", "the cat sat on the mat", 5 / 6),
        ("rouge_l", "completely different", "the cat sat on the mat", 0.0),
        ("bleu", "the cat sat on the mat", "the cat sat on the mat", 1.0),
        ("bleu", "dog", "the cat sat on the mat", 0.0),
        ("json_valid", '{"a": 1}', None, 1.0),
        ("json_valid", " [1, 2]\n", None, 1.0),
        ("json_valid", '"text"', None, 1.0),
        ("json_valid", '```json\n{"a": 1}\n```', None, 0.0),
        ("json_valid", "NaN", None, 0.0),
        ("json_valid", '{"a":}', None, 0.0),
        ("json_valid", "The JSON is {}", None, 0.0),
        ("length", "héllo", None, 5.0),
        ("length", "", None, 0.0),
        ("length", " a b ", None, 5.0),
    ],
)
def test_a_deterministic_metric_gives_the_hand_checked_value(
    metric: str, output: str, expected: str | None, value: float
) -> None:
    assert score(metric, output, expected) == pytest.approx(value)


@pytest.mark.parametrize(
    "metric",
    [
        "exact_match",
        "contains",
        "regex",
        "accuracy",
        "numeric_match",
        "token_f1",
        "bleu",
        "rouge_l",
    ],
)
def test_a_metric_that_needs_expected_is_null_with_a_reason_without_it(
    metric: str,
) -> None:
    result = REGISTRY.get(metric).evaluate(Case(output="42"))
    assert result.value is None
    assert result.reason and ("expected" in result.reason)


@pytest.mark.parametrize(
    ("output", "reference"),
    [
        ("the cat is on the mat", "the cat sat on the mat"),
        (
            "The quick brown fox jumps over a lazy dog.",
            "A quick brown fox jumped over the lazy dog.",
        ),
        ("Paris is the capital of France", "The capital of France is Paris"),
        ("It rained heavily in the north on Tuesday", "Heavy rain fell in the north"),
    ],
)
def test_bleu_and_rouge_l_equal_their_reference_implementations(
    output: str, reference: str
) -> None:
    bleu = sacrebleu.sentence_bleu(output, [reference]).score / 100
    rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge_l = rouge.score(reference, output)["rougeL"].fmeasure

    assert score("bleu", output, reference) == pytest.approx(bleu, abs=1e-12)
    assert score("rouge_l", output, reference) == pytest.approx(rouge_l, abs=1e-12)
    assert 0.0 < score("bleu", output, reference) < 1.0


def test_rouge_l_uses_the_stemmer() -> None:
    # "jumped"/"jumps" share the stem "jump": 3 of 3 tokens in common.
    assert score("rouge_l", "fox jumps high", "fox jumped high") == 1.0


def test_regex_takes_the_pattern_parameter_before_expected() -> None:
    params = {"regex": {"pattern": r"^order \d+$", "ignore_case": True}}
    assert score("regex", "ORDER 7", "no match here", parameters=params) == 1.0


def test_a_regex_that_does_not_compile_is_null_with_a_reason() -> None:
    result = REGISTRY.get("regex").evaluate(Case(output="x", expected="(unclosed"))
    assert result.value is None
    assert "does not compile" in (result.reason or "")


def test_a_catastrophic_regex_is_stopped_and_null_with_a_reason() -> None:
    case = Case(output="a" * 5000 + "!", expected=r"(a+)+$")
    result = REGISTRY.get("regex").evaluate(case)
    assert result.value is None
    assert "longer than 0.25 s" in (result.reason or "")


def test_an_overlong_or_unknown_regex_parameter_is_refused() -> None:
    too_long = Case(output="x", parameters={"regex": {"pattern": "a" * 1001}})
    with pytest.raises(MetricParameterError, match="at most 1000"):
        REGISTRY.get("regex").evaluate(too_long)
    unknown = Case(output="x", parameters={"regex": {"flags": "i"}})
    with pytest.raises(MetricParameterError, match="no parameter flags"):
        REGISTRY.get("regex").evaluate(unknown)


@pytest.mark.parametrize("flag", ["yes", 1, "false", None])
def test_a_regex_ignore_case_that_is_not_a_boolean_is_refused(flag: object) -> None:
    regex = REGISTRY.get("regex")
    with pytest.raises(MetricParameterError, match="true or false"):
        regex.check_values({"pattern": "x", "ignore_case": flag})  # type: ignore[attr-defined]
    regex.check_values({"pattern": "x", "ignore_case": True})  # type: ignore[attr-defined]


def test_numeric_match_accepts_a_tolerance() -> None:
    params = {"numeric_match": {"tolerance": 0.01}}
    assert score("numeric_match", "about 3.14", "3.1416", parameters=params) == 1.0
    assert score("numeric_match", "about 3.13", "3.1416", parameters=params) == 0.0
    with pytest.raises(MetricParameterError, match="finite and >= 0"):
        score(
            "numeric_match", "3", "3", parameters={"numeric_match": {"tolerance": -1}}
        )


def test_numeric_match_is_null_when_expected_is_not_a_number() -> None:
    result = REGISTRY.get("numeric_match").evaluate(Case(output="7", expected="Paris"))
    assert (result.value, result.reason) == (
        None,
        "the expected answer is not a number",
    )


def test_accuracy_follows_the_items_answer_type_and_choices() -> None:
    # With six choices, "F" is an option; a free-text "F" item compares text.
    six = ("a", "b", "c", "d", "e", "f")
    assert score("accuracy", "Answer: F", "F", answer_type="choice", choices=six) == 1.0
    assert score("accuracy", "Answer: F", "F", answer_type="text") == 0.0


def test_latency_and_cost_are_the_given_measurements_or_null_with_a_reason() -> None:
    assert score("latency", "x", latency_ms=12.5) == 12.5
    assert score("cost", "x", cost_usd=0.00042) == 0.00042
    latency = REGISTRY.get("latency").evaluate(Case(output="x"))
    cost = REGISTRY.get("cost").evaluate(Case(output="x"))
    assert latency.value is None and "latency was not given" in (latency.reason or "")
    assert cost.value is None and "cost is not known" in (cost.reason or "")


def test_rouge_l_refuses_texts_whose_lcs_table_would_be_huge() -> None:
    # 2,001 x 2,000 words is just over the limit: null with the reason, at once.
    output = "word " * 2001
    expected = "word " * 2000
    assert MAX_LCS_CELLS < 2001 * 2000
    result = RougeL().evaluate(Case(input="x", output=output, expected=expected))
    assert result.value is None
    assert result.reason == (
        "too long for rouge_l: 2000 x 2001 words is over 4,000,000 pairs"
    )
    # Just under it, the metric is computed (identical texts: 1.0).
    small = "word " * 1999
    assert RougeL().evaluate(Case(input="x", output=small, expected=small)).value == 1.0
