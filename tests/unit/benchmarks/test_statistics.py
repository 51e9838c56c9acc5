"""Unit tests for nearest-rank percentiles and the latency summary."""

from __future__ import annotations

import math

import pytest

from app.benchmarks.statistics import latency_summary, percentile_nearest_rank

ONE_TO_HUNDRED = [float(v) for v in range(1, 101)]
TEN_VALUES = [12.0, 3.0, 45.0, 7.0, 21.0, 9.0, 30.0, 15.0, 5.0, 60.0]  # unsorted

PERCENTILE_CASES = [
    # (values, p, expected), each worked by hand: rank = ceil(p/100 * n), 1-based
    ([], 50, None),
    ([5.0], 0.1, 5.0),
    ([5.0], 50, 5.0),
    ([5.0], 99, 5.0),
    ([5.0], 100, 5.0),
    (ONE_TO_HUNDRED, 1, 1.0),
    (ONE_TO_HUNDRED, 50, 50.0),
    (ONE_TO_HUNDRED, 95, 95.0),
    (ONE_TO_HUNDRED, 99, 99.0),
    (ONE_TO_HUNDRED, 100, 100.0),
    (ONE_TO_HUNDRED, 0.5, 1.0),  # ceil(0.5) = 1
    (ONE_TO_HUNDRED, 95.5, 96.0),  # ceil(95.5) = 96
    (TEN_VALUES, 99, 60.0),  # ceil(9.9) = 10: the maximum
    (TEN_VALUES, 95, 60.0),  # ceil(9.5) = 10
    (TEN_VALUES, 90, 45.0),  # ceil(9.0) = 9
    (TEN_VALUES, 50, 12.0),  # ceil(5.0) = 5 -> sorted 3 5 7 9 [12]
    (TEN_VALUES, 10, 3.0),  # ceil(1.0) = 1: the minimum
    (TEN_VALUES, 10.0001, 5.0),  # just past rank 1
    ([1.0, 2.0, 3.0, 4.0], 25, 1.0),  # ceil(1.0) = 1
    ([1.0, 2.0, 3.0, 4.0], 50, 2.0),  # ceil(2.0) = 2, not the interpolated 2.5
    ([1.0, 2.0, 3.0, 4.0], 75, 3.0),
    ([1.0, 2.0, 3.0], 50, 2.0),  # ceil(1.5) = 2
    ([3.0, 1.0, 2.0], 100, 3.0),
    ([float(v) for v in range(1, 1001)], 99.9, 999.0),  # exact: ceil(999.0) = 999
    ([2.0, 2.0, 2.0, 7.0], 75, 2.0),
    ([-1.5, 0.0, 1.5], 50, 0.0),
]


@pytest.mark.parametrize(("values", "p", "expected"), PERCENTILE_CASES)
def test_percentile_nearest_rank_matches_values_worked_by_hand(
    values: list[float], p: float, expected: float | None
) -> None:
    assert percentile_nearest_rank(values, p) == expected


def test_a_percentile_is_always_one_of_the_values() -> None:
    values = [0.3, 0.1, 0.7, 0.2, 0.9, 0.4, 0.8]

    for p in range(1, 101):
        assert percentile_nearest_rank(values, p) in values


def test_percentile_accepts_integers_and_returns_a_float() -> None:
    result = percentile_nearest_rank([3, 1, 2], 50)

    assert result == 2.0
    assert isinstance(result, float)


def test_percentile_does_not_reorder_the_callers_values() -> None:
    values = [3.0, 1.0, 2.0]

    percentile_nearest_rank(values, 50)

    assert values == [3.0, 1.0, 2.0]


@pytest.mark.parametrize("p", [0, -5, 100.01, 101, math.nan, math.inf])
def test_percentile_outside_zero_to_one_hundred_is_refused(p: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile_nearest_rank([1.0], p)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_percentile_of_values_that_are_not_finite_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        percentile_nearest_rank([1.0, bad], 50)


def test_latency_summary_of_no_values_is_all_none() -> None:
    assert latency_summary([]) == {"p50": None, "p95": None, "p99": None, "mean": None}


def test_latency_summary_of_one_value_is_that_value_everywhere() -> None:
    assert latency_summary([120.0]) == {
        "p50": 120.0,
        "p95": 120.0,
        "p99": 120.0,
        "mean": 120.0,
    }


def test_latency_summary_of_one_to_hundred() -> None:
    assert latency_summary(ONE_TO_HUNDRED) == {
        "p50": 50.0,
        "p95": 95.0,
        "p99": 99.0,
        "mean": 50.5,
    }


def test_latency_summary_of_ten_values_has_the_maximum_as_p95_and_p99() -> None:
    assert latency_summary(TEN_VALUES) == {
        "p50": 12.0,
        "p95": 60.0,
        "p99": 60.0,
        "mean": 20.7,
    }


def test_latency_summary_mean_does_not_lose_small_values_to_rounding() -> None:
    summary = latency_summary([1e16, 1.0, -1e16, 1.0])

    assert summary["mean"] == 0.5
