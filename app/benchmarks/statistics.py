"""Descriptive statistics for benchmark results: nearest-rank percentiles, latency."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction


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
