"""Intervals and tests of app/benchmarks/statistics.py against SciPy and statsmodels.

The references are computed here, independently, by the libraries the field
trusts; the coverage simulation checks the bootstrap's stated 95% empirically.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from app.benchmarks.statistics import (
    MAX_RESAMPLES,
    MIN_RESAMPLES,
    bootstrap_ratio_intervals,
    holm,
    mcnemar_exact,
    resamples_within,
    sign_flip_p_values,
    wilson_interval,
)

WILSON_CASES = [(0, 1), (1, 1), (0, 10), (10, 10), (7, 10), (1, 30), (29, 30)]
WILSON_CASES += [(50, 100), (3, 1000), (999, 1000), (12345, 20000), (1, 100000)]


@pytest.mark.parametrize(("successes", "n"), WILSON_CASES)
def test_wilson_interval_matches_statsmodels(successes: int, n: int) -> None:
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")

    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=1e-12)


@pytest.mark.parametrize("level", [0.8, 0.9, 0.99])
def test_wilson_interval_at_other_levels_matches_statsmodels(level: float) -> None:
    expected = proportion_confint(13, 40, alpha=1 - level, method="wilson")

    assert wilson_interval(13, 40, level) == pytest.approx(expected, abs=1e-12)


def test_wilson_interval_of_no_items_is_none_and_bad_counts_are_refused() -> None:
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)


MCNEMAR_CASES = [(0, 0), (0, 1), (1, 0), (3, 10), (10, 3), (5, 5), (0, 25)]
MCNEMAR_CASES += [(17, 6), (100, 130), (480, 520), (2000, 2150), (31000, 30500)]


@pytest.mark.parametrize(("a_only", "b_only"), MCNEMAR_CASES)
def test_mcnemar_exact_matches_statsmodels_and_scipy(a_only: int, b_only: int) -> None:
    # The concordant cells do not enter the exact test; any values do.
    table = [[40, a_only], [b_only, 12]]
    expected = mcnemar(table, exact=True).pvalue

    assert mcnemar_exact(a_only, b_only) == pytest.approx(expected, rel=1e-9)
    if a_only + b_only:
        binomial = stats.binomtest(a_only, a_only + b_only, 0.5).pvalue
        assert mcnemar_exact(a_only, b_only) == pytest.approx(binomial, rel=1e-9)


def test_mcnemar_exact_refuses_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


HOLM_CASES = [
    [0.01],
    [0.01, 0.04, 0.03],
    [0.2, 0.001, 0.04, 0.04, 0.9],
    [0.5, 0.5, 0.5],
    [0.001, 0.002, 0.003, 0.004, 0.2, 0.03, 0.01],
]


@pytest.mark.parametrize("p_values", HOLM_CASES)
def test_holm_matches_statsmodels(p_values: list[float]) -> None:
    expected = multipletests(p_values, method="holm")[1]

    assert holm(p_values) == pytest.approx(list(expected), abs=1e-12)


def test_resamples_shrink_with_the_work_but_stay_within_bounds() -> None:
    assert resamples_within(100, 4) == MAX_RESAMPLES
    assert resamples_within(100_000, 10) == MIN_RESAMPLES
    assert MIN_RESAMPLES < resamples_within(20_000, 2) < MAX_RESAMPLES


def column(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One quantity, one cell per item: sums are the values, counts are ones."""
    return values[:, None], np.ones((len(values), 1))


def test_bootstrap_interval_agrees_with_scipys_percentile_bootstrap() -> None:
    values = np.random.default_rng(3).lognormal(0, 1, size=120)
    reference = stats.bootstrap(
        (values,), np.mean, n_resamples=20000, method="percentile", random_state=1
    ).confidence_interval

    [interval] = bootstrap_ratio_intervals(*column(values), seed=0, resamples=2000)

    assert interval is not None
    width = reference.high - reference.low
    # Two Monte Carlo estimates of the same quantiles: equal within a tenth of
    # the width (the resampling error of 2000 draws is a few hundredths).
    assert interval[0] == pytest.approx(reference.low, abs=0.1 * width)
    assert interval[1] == pytest.approx(reference.high, abs=0.1 * width)


def test_bootstrap_is_reproducible_from_the_seed_and_changes_with_it() -> None:
    sums, counts = column(np.random.default_rng(5).normal(size=60))

    first = bootstrap_ratio_intervals(sums, counts, seed=11, resamples=500)
    again = bootstrap_ratio_intervals(sums, counts, seed=11, resamples=500)
    other = bootstrap_ratio_intervals(sums, counts, seed=12, resamples=500)

    assert first == again
    assert first != other


def test_bootstrap_resamples_items_with_their_repeats_and_skips_missing_values() -> (
    None
):
    # Item sums over 2 repeats; the third item has no value at all (count 0).
    sums = np.array([[4.0], [6.0], [0.0], [10.0]])
    counts = np.array([[2.0], [2.0], [0.0], [2.0]])

    [interval] = bootstrap_ratio_intervals(sums, counts, seed=0, resamples=2000)

    # Per-item means 2, 3 and 5: every resampled mean lies within them.
    assert interval is not None
    assert 2.0 <= interval[0] < 10 / 3 < interval[1] <= 5.0


def test_bootstrap_of_a_quantity_without_values_is_none() -> None:
    sums = np.zeros((5, 2))
    counts = np.column_stack([np.ones(5), np.zeros(5)])

    intervals = bootstrap_ratio_intervals(sums, counts, seed=0, resamples=300)

    assert intervals[0] == (0.0, 0.0)
    assert intervals[1] is None


def test_bootstrap_intervals_cover_the_true_mean_at_about_the_stated_rate() -> None:
    # 400 samples of 60 from a normal of known mean, all in one call (one
    # quantity each, items resampled together): the 95% percentile interval
    # should cover the mean about 95% of the time. With 400 trials the
    # standard error of the rate is 1.1 points; percentile intervals run a
    # little short at n = 60, hence the asymmetric band.
    rng = np.random.default_rng(2024)
    true_mean = 3.0
    samples = rng.normal(true_mean, 2.0, size=(60, 400))

    intervals = bootstrap_ratio_intervals(
        samples, np.ones_like(samples), seed=9, resamples=1000
    )

    covered = sum(low <= true_mean <= high for low, high in intervals)  # type: ignore[misc]
    assert 0.91 <= covered / 400 <= 0.98


def assert_like_scipys_paired_bootstrap(
    interval: tuple[float, float] | None, a: np.ndarray, b: np.ndarray
) -> None:
    """Equal, within a tenth of its width, to SciPy's percentile paired bootstrap."""
    reference = stats.bootstrap(
        (a, b),
        lambda x, y, axis=-1: np.mean(x - y, axis=axis),
        paired=True,
        n_resamples=20000,
        method="percentile",
        random_state=2,
    ).confidence_interval
    assert interval is not None
    width = reference.high - reference.low
    assert interval[0] == pytest.approx(reference.low, abs=0.1 * width)
    assert interval[1] == pytest.approx(reference.high, abs=0.1 * width)


def test_paired_bootstrap_interval_agrees_with_scipys_paired_bootstrap() -> None:
    rng = np.random.default_rng(8)
    a = rng.normal(10, 3, size=80)
    b = a - 0.8 + rng.normal(0, 1, size=80)

    [interval] = bootstrap_ratio_intervals(*column(a - b), seed=0, resamples=2000)

    assert_like_scipys_paired_bootstrap(interval, a, b)


@pytest.mark.parametrize("shift", [0.0, 0.4, 1.0])
def test_sign_flip_p_value_agrees_with_scipys_exact_permutation_test(
    shift: float,
) -> None:
    rng = np.random.default_rng(int(shift * 10) + 1)
    a = rng.normal(shift, 1, size=12)
    b = rng.normal(0, 1, size=12)
    # 2^12 sign patterns: scipy enumerates them all, an exact p-value.
    reference = stats.permutation_test(
        (a, b),
        lambda x, y, axis=-1: np.mean(x - y, axis=axis),
        permutation_type="samples",
        n_resamples=np.inf,
    ).pvalue
    differences, present = column(a - b)

    [p_value] = sign_flip_p_values(differences, present, seed=0, resamples=4000)

    # Monte Carlo with 4000 draws: standard error at most 0.008.
    assert p_value == pytest.approx(reference, abs=0.03)


def test_sign_flip_p_value_only_counts_present_items() -> None:
    differences = np.array([[1.0], [1.0], [1.0], [-50.0]])
    present = np.array([[1.0], [1.0], [1.0], [0.0]])

    [p_value] = sign_flip_p_values(differences, present, seed=0, resamples=2000)

    # Three positive differences: only the all-plus and all-minus of 8 sign
    # patterns are as extreme, p = 2/8 (the absent -50 would change that).
    assert p_value == pytest.approx(0.25, abs=0.03)


def test_sign_flip_p_values_hold_their_level_under_the_null() -> None:
    rng = np.random.default_rng(77)
    differences = rng.normal(0, 1, size=(40, 300))

    p_values = sign_flip_p_values(
        differences, np.ones_like(differences), seed=4, resamples=1000
    )

    rejected = sum(p < 0.05 for p in p_values) / len(p_values)
    assert 0.015 <= rejected <= 0.09
