"""The benchmark status lifecycle and its legal transitions."""

from __future__ import annotations

from enum import StrEnum

from app.errors import Conflict


class BenchmarkStatus(StrEnum):
    """Where a benchmark is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


UNFINISHED = frozenset({BenchmarkStatus.PENDING, BenchmarkStatus.RUNNING})

_NEXT: dict[BenchmarkStatus, frozenset[BenchmarkStatus]] = {
    BenchmarkStatus.PENDING: frozenset(
        {BenchmarkStatus.RUNNING, BenchmarkStatus.CANCELLED, BenchmarkStatus.FAILED}
    ),
    BenchmarkStatus.RUNNING: frozenset(
        {BenchmarkStatus.COMPLETED, BenchmarkStatus.FAILED, BenchmarkStatus.CANCELLED}
    ),
    BenchmarkStatus.COMPLETED: frozenset(),
    BenchmarkStatus.FAILED: frozenset(),
    BenchmarkStatus.CANCELLED: frozenset(),
}


def check_transition(current: str, new: BenchmarkStatus) -> None:
    """Raise Conflict, naming both states, if ``current`` cannot become ``new``."""
    if new not in _NEXT[BenchmarkStatus(current)]:
        raise Conflict(
            f"A benchmark that is '{current}' cannot become '{new}'",
            details={"status": current, "requested": str(new)},
        )
