"""The `ltb bench` results table: n is distinct items, with the repeats noted."""

from __future__ import annotations

import re
from typing import Any

from app.cli_bench import results_table


def target(**overrides: Any) -> dict[str, Any]:
    return {
        "target_index": 0,
        "provider": "fake",
        "model": "m",
        "items": 15,
        "n_items": 5,
        "errors": 0,
        "correct": 9,
        "accuracy": 0.6,
        "accuracy_interval": {"low": 0.2, "high": 0.9},
        "latency_ms": {},
        "repeat_stats": {"repeats": 3},
    } | overrides


def n_column(text: str) -> list[str]:
    rows = text.splitlines()[2:]
    # Columns are set apart by two spaces or more; a cell has at most one.
    return [re.split(r"\s{2,}", row)[1] for row in rows]


def test_n_is_the_distinct_items_with_the_repeats_noted() -> None:
    assert n_column(results_table([target()])) == ["5 x3"]


def test_n_is_the_items_with_one_repeat_and_the_cells_from_an_older_server() -> None:
    single = target(items=5, repeat_stats=None)
    older = target(n_items=None, repeat_stats=None)

    assert n_column(results_table([single, older])) == ["5", "15"]
