"""Deterministic metrics that compare an output with an expected answer: 0 or 1."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import regex

from app.benchmarks.extraction import (
    extract_choice,
    extract_number,
    normalise_number,
    score_answer,
)
from app.evaluators.base import (
    Case,
    Kind,
    MetricInfo,
    MetricParameterError,
    MetricResult,
    Need,
    check_parameters,
)
from app.evaluators.text import fold

NEEDS_EXPECTED = "no expected answer was given"
# 2: the last answer marker of either kind ("####" or "Answer:") gives a number
# (app/benchmarks/extraction.py); before, "####" won over a later "Answer:".
VERSION = "2"


def _binary(passed: bool) -> MetricResult:
    return MetricResult(1.0 if passed else 0.0)


def _info(name: str, description: str, *needs: Need, **extra: Any) -> MetricInfo:
    return MetricInfo(
        name=name,
        description=description,
        needs=frozenset({Need.OUTPUT, *needs}),
        minimum=0.0,
        maximum=1.0,
        higher_is_better=True,
        kind=Kind.DETERMINISTIC,
        version=VERSION,
        **extra,
    )


class ExactMatch:
    """1 when the output equals the expected answer, surrounding whitespace aside."""

    info = _info(
        "exact_match",
        "1 if the output equals `expected` exactly (leading and trailing whitespace "
        "ignored, case kept), else 0.",
        Need.EXPECTED,
        light=True,
    )

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        if case.expected is None:
            return MetricResult.unavailable(NEEDS_EXPECTED)
        return _binary(case.output.strip() == case.expected.strip())


class Contains:
    """1 when the expected answer appears in the output, case and spacing aside."""

    info = _info(
        "contains",
        "1 if `expected` occurs in the output, ignoring case and collapsing runs of "
        "whitespace, else 0.",
        Need.EXPECTED,
        light=True,
    )

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        if case.expected is None:
            return MetricResult.unavailable(NEEDS_EXPECTED)
        return _binary(fold(case.expected) in fold(case.output))


class RegexMatch:
    """1 when a regular expression is found in the output.

    Patterns come from users, and a pattern such as ``(a+)+$`` takes exponential
    time on the stdlib ``re``, which cannot be interrupted. The ``regex`` module
    (the maintained superset of ``re``) checks a timeout while matching, so a
    catastrophic pattern costs at most ``TIMEOUT_S`` and gives a null with the
    reason. Pattern and output lengths are bounded too, to keep compilation and
    memory small.
    """

    MAX_PATTERN_CHARS = 1000
    TIMEOUT_S = 0.25
    info = _info(
        "regex",
        "1 if the pattern (the `pattern` parameter, else `expected`) is found in the "
        "output (Python `re` syntax, searched anywhere), else 0. A `pattern` "
        "parameter that does not compile is refused (400); an `expected` that does "
        "not compile, or a match taking longer than 0.25 s, gives null.",
        parameters={
            "pattern": "The regular expression; defaults to `expected`.",
            "ignore_case": "true to match regardless of case.",
        },
    )

    def check_values(self, params: Mapping[str, Any]) -> None:
        """Refuse a `pattern` that is too long or does not compile, and an
        `ignore_case` that is not true or false."""
        if "pattern" in params:
            self._check_pattern(params["pattern"], "parameters.regex.pattern")
        if "ignore_case" in params and not isinstance(params["ignore_case"], bool):
            raise MetricParameterError(
                "parameters.regex.ignore_case must be true or false",
                details={
                    "metric": self.info.name,
                    "field": "parameters.regex.ignore_case",
                },
            )

    def _check_pattern(self, pattern: object, field: str) -> None:
        if not isinstance(pattern, str) or len(pattern) > self.MAX_PATTERN_CHARS:
            raise MetricParameterError(
                f"regex pattern must be a string of at most "
                f"{self.MAX_PATTERN_CHARS} characters",
                details={"metric": self.info.name, "field": field},
            )
        try:
            regex.compile(pattern)
        except regex.error as e:
            raise MetricParameterError(
                f"{field} is not a valid regular expression: {e}",
                details={"metric": self.info.name, "field": field},
            ) from e

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        params = case.parameters_of(self.info.name)
        check_parameters(self.info, params)
        pattern = params.get("pattern", case.expected)
        if pattern is None:
            return MetricResult.unavailable("no pattern and no expected answer given")
        if not isinstance(pattern, str) or len(pattern) > self.MAX_PATTERN_CHARS:
            raise MetricParameterError(
                f"regex pattern must be a string of at most "
                f"{self.MAX_PATTERN_CHARS} characters",
                details={"metric": self.info.name},
            )
        flags = regex.IGNORECASE if params.get("ignore_case") is True else 0
        try:
            compiled = regex.compile(pattern, flags)
            found = compiled.search(case.output, timeout=self.TIMEOUT_S)
        except regex.error as e:
            return MetricResult.unavailable(f"the pattern does not compile: {e}")
        except TimeoutError:
            return MetricResult.unavailable(
                f"the pattern took longer than {self.TIMEOUT_S} s to match"
            )
        return _binary(found is not None)


class Accuracy:
    """Whether the answer extracted from free output is the expected one."""

    info = _info(
        "accuracy",
        "1 if the answer extracted from the output matches `expected`, else 0. "
        "The kind of answer follows `expected`: one letter A-Z is a multiple-choice "
        "option (the letter the output commits to, e.g. 'Answer: B'), a number is "
        "compared by value with the output's final number, anything else is "
        "compared with the whole output ignoring case and spacing.",
        Need.EXPECTED,
        light=True,
    )

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        if case.expected is None:
            return MetricResult.unavailable(NEEDS_EXPECTED)
        answer_type = case.answer_type or _answer_type_of(case.expected)
        if answer_type == "choice":
            extracted = extract_choice(case.output, _choice_count(case))
        elif answer_type == "number":
            extracted = extract_number(case.output)
        else:
            extracted = case.output.strip()
        correct = score_answer(answer_type, case.expected, extracted)
        return MetricResult(float(correct), details={"extracted": extracted})


def _answer_type_of(expected: str) -> str:
    letter = expected.strip()
    if len(letter) == 1 and "A" <= letter <= "Z":
        return "choice"
    return "number" if normalise_number(expected) is not None else "text"


def _choice_count(case: Case) -> int:
    if case.choices:
        return min(len(case.choices), 26)
    # Without the item's choices, at least A-D, and always up to the expected letter.
    assert case.expected is not None
    return max(4, ord(case.expected.strip().upper()) - ord("A") + 1)


class NumericMatch:
    """Whether the output's final number equals the expected number."""

    info = _info(
        "numeric_match",
        "1 if the final number in the output equals the number `expected` within "
        "the absolute `tolerance` (default 0), else 0; null when `expected` is not "
        "a number. Numbers may carry thousands separators, a currency sign or %.",
        Need.EXPECTED,
        parameters={"tolerance": "Largest accepted absolute difference (>= 0)."},
    )

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        params = case.parameters_of(self.info.name)
        check_parameters(self.info, params)
        tolerance = _tolerance(params.get("tolerance", 0))
        if case.expected is None:
            return MetricResult.unavailable(NEEDS_EXPECTED)
        expected = normalise_number(case.expected)
        if expected is None:
            return MetricResult.unavailable("the expected answer is not a number")
        found = extract_number(case.output)
        if found is None:
            return MetricResult(0.0, details={"extracted": None})
        # Decimal keeps "0.1 + 0.2"-style answers exact.
        passed = abs(Decimal(found) - Decimal(expected)) <= tolerance
        return MetricResult(float(passed), details={"extracted": found})


def _tolerance(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricParameterError("numeric_match tolerance must be a number")
    try:
        tolerance = Decimal(str(value))
    except InvalidOperation as e:
        raise MetricParameterError("numeric_match tolerance must be a number") from e
    if not tolerance.is_finite() or tolerance < 0:
        raise MetricParameterError("numeric_match tolerance must be finite and >= 0")
    return tolerance


class JsonValid:
    """Whether the whole output is one JSON document."""

    info = _info(
        "json_valid",
        "1 if the whole output (surrounding whitespace aside) parses as JSON, "
        "else 0. Prose or a Markdown code fence around the JSON makes it invalid.",
    )

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        try:
            json.loads(case.output, parse_constant=_not_json)
        except ValueError:
            return MetricResult(0.0)
        except RecursionError:
            return MetricResult.unavailable("the output nests too deeply to parse")
        return MetricResult(1.0)


def _not_json(constant: str) -> Any:
    # Python's json reads NaN and Infinity, which RFC 8259 does not allow.
    raise ValueError(f"{constant} is not JSON")
