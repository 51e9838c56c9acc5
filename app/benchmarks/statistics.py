"""Statistics of benchmark results: percentiles, intervals and paired tests."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from statistics import NormalDist

import numpy as np


def percentile_nearest_rank(values: Sequence[float], p: float) -> float | None:
    """Return the p-th percentile by the nearest-rank method, or None for no values."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    if not values:
        return None
    if not all(math.isfinite(value) for value in values):
        raise ValueError("values must be finite numbers")
    ordered = sorted(values)
    # rank = ceil(p/100 * n), 1-based. Fractions of the decimal text keep it exact:
    # in floats 99.9/100 * 1000 is a hair above 999 and would round up to 1000.
    rank = math.ceil(Fraction(str(p)) * len(ordered) / 100)
    return float(ordered[rank - 1])


def latency_summary(values: Sequence[float]) -> dict[str, float | None]:
    """Return p50, p95, p99 (nearest rank) and the mean; all None for no values."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "mean": None}
    return {
        "p50": percentile_nearest_rank(values, 50),
        "p95": percentile_nearest_rank(values, 95),
        "p99": percentile_nearest_rank(values, 99),
        "mean": math.fsum(values) / len(values),
    }


# Inferential statistics: intervals and paired tests of benchmark results.
#
# Every resampling here is seeded from the benchmark's seed, so the same stored
# cells always give the same figures. Resamples are drawn as count matrices
# (resample x item) in chunks and applied to all quantities at once by one
# matrix product, so the cost is resamples x items x quantities multiply-adds and
# the memory a chunk's, whatever the benchmark's size.

LEVEL = 0.95
# Percentile intervals need about a thousand resamples to be stable in their
# second digit; fewer are drawn only where more would cost too much (see
# resamples_within), and every interval says how many it used.
MAX_RESAMPLES = 2000
MIN_RESAMPLES = 200
# Work units (item x quantity per resample) one computation may spend: about a
# second of numpy on one core for a request, a few for results stored once.
REQUEST_BUDGET = 1_000_000_000
STORED_BUDGET = 4_000_000_000
# Drawing a resample of one item costs about as much as 64 quantities' sums.
_DRAW_COST = 64
# Cells of a resample chunk held at once (8 bytes each: 16 MB).
_CHUNK_CELLS = 2_000_000


def wilson_interval(
    successes: float, n: int, level: float = LEVEL
) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion; None for n = 0.

    ``successes`` may be fractional (a mean times n), as for items that each
    scored the same share of their repeats.
    """
    if n == 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    # The bounds are exact at 0 and n; clamping keeps float noise inside [0, 1].
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """McNemar's exact two-sided p-value from the two discordant counts.

    Under the null each discordant item is a's or b's with probability 1/2: the
    p-value is the two-sided binomial test, min(1, 2 P(X <= min(a, b))) with
    X ~ Binomial(a + b, 1/2) (as statsmodels' mcnemar(exact=True)).
    """
    if a_only < 0 or b_only < 0:
        raise ValueError("discordant counts must be non-negative")
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    # log C(n, i) - n log 2, summed in log space: exact enough for any n, where
    # C(n, i) itself overflows a float past n = 1030.
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        for i in range(k + 1)
    ]
    top = max(log_terms)
    log_cdf = top + math.log(math.fsum(math.exp(t - top) for t in log_terms))
    return min(1.0, 2 * math.exp(log_cdf - n * math.log(2)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values, in the given order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        # Monotone: an adjusted p-value is never below that of a smaller p-value.
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def resamples_within(items: int, quantities: int, budget: int = REQUEST_BUDGET) -> int:
    """How many resamples of these many items and quantities fit the budget."""
    work = max(1, items) * (max(1, quantities) + _DRAW_COST)
    return max(MIN_RESAMPLES, min(MAX_RESAMPLES, budget // work))


def rng_for(seed: int, purpose: str) -> np.random.Generator:
    """A generator for one purpose of one benchmark: same seed, same draws."""
    tag = int.from_bytes(purpose.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.default_rng(np.random.SeedSequence([seed, tag]))


def _resample_counts(
    rng: np.random.Generator, items: int, resamples: int
) -> Iterator[np.ndarray]:
    """Chunks of a (resamples x items) matrix: how often each item is drawn."""
    rows_per_chunk = max(1, _CHUNK_CELLS // items)
    for start in range(0, resamples, rows_per_chunk):
        rows = min(rows_per_chunk, resamples - start)
        drawn = rng.integers(0, items, size=(rows, items), dtype=np.int32)
        flat = (drawn + np.arange(rows, dtype=np.int32)[:, None] * items).ravel()
        yield (
            np.bincount(flat, minlength=rows * items)
            .reshape(rows, items)
            .astype(np.float64)
        )


def bootstrap_ratio_intervals(
    sums: np.ndarray,
    counts: np.ndarray,
    seed: int,
    resamples: int,
    level: float = LEVEL,
    purpose: str = "means",
) -> list[tuple[float, float] | None]:
    """Percentile bootstrap intervals of several means, resampling items.

    ``sums`` and ``counts`` are (items x quantities): per item, the sum of a
    quantity over the item's cells that have a value and how many have one.
    Items are resampled with replacement, every quantity with the same draws,
    and each replicate's mean is sum(weights * sums) / sum(weights * counts): the
    cluster bootstrap, which keeps an item's repeats together. A replicate that
    drew no item with a value is left out. None where no item has a value.
    """
    items, quantities = sums.shape
    if items == 0:
        return [None] * quantities
    replicates = _replicates(sums, counts, seed, resamples, purpose)
    alpha = (1 - level) / 2
    intervals: list[tuple[float, float] | None] = []
    for q in range(quantities):
        column = replicates[:, q]
        column = column[np.isfinite(column)]
        if column.size == 0:
            intervals.append(None)
            continue
        low, high = np.quantile(column, [alpha, 1 - alpha])
        intervals.append((float(low), float(high)))
    return intervals


def _replicates(
    sums: np.ndarray, counts: np.ndarray, seed: int, resamples: int, purpose: str
) -> np.ndarray:
    items, quantities = sums.shape
    rng = rng_for(seed, purpose)
    out = np.empty((resamples, quantities))
    row = 0
    with np.errstate(invalid="ignore", divide="ignore"):
        for weights in _resample_counts(rng, items, resamples):
            out[row : row + len(weights)] = _times(weights, sums) / _times(
                weights, counts
            )
            row += len(weights)
    return out


def _times(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    # einsum's own loop rather than BLAS: a multi-threaded BLAS on a busy server
    # fights the other request threads for the cores and runs many times slower.
    product: np.ndarray = np.einsum("ij,jk->ik", left, right, optimize=False)
    return product


def sign_flip_p_values(
    differences: np.ndarray, present: np.ndarray, seed: int, resamples: int
) -> list[float]:
    """Two-sided p-values of paired sign-flip permutation tests, one per column.

    Column q tests whether the mean of ``differences[:, q]`` over the items
    where ``present[:, q]`` is 1 is zero: under the null each difference is as
    likely with either sign. Monte Carlo over ``resamples`` sign draws, with the
    observed statistic counted among them: p = (1 + hits) / (1 + resamples).
    """
    items, quantities = differences.shape
    masked = differences * present
    observed = np.abs(masked.sum(axis=0))
    # Ties within float noise count as hits, as scipy's permutation_test does.
    tolerance = 1e-9 * np.maximum(1.0, np.abs(masked).sum(axis=0))
    hits = np.zeros(quantities)
    rng = rng_for(seed, "signflip")
    rows_per_chunk = max(1, _CHUNK_CELLS // max(1, items))
    for start in range(0, resamples, rows_per_chunk):
        rows = min(rows_per_chunk, resamples - start)
        signs = rng.integers(0, 2, size=(rows, items)) * 2.0 - 1.0
        hits += (np.abs(_times(signs, masked)) >= observed - tolerance).sum(axis=0)
    return [float(p) for p in (1 + hits) / (1 + resamples)]
