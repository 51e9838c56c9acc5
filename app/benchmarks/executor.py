"""What the API workers ask of whoever runs benchmarks: the executor interface."""

from __future__ import annotations

from typing import Protocol


class Executor(Protocol):
    """Runs benchmarks: in this process (engine.py) or through Celery (app/jobs)."""

    def start(self, benchmark_id: str) -> None:
        """Start a stored benchmark; call on the event loop, never blocks."""
        ...

    async def stop(self, benchmark_id: str) -> None:
        """Stop this process' part of a cancelled benchmark."""
        ...

    async def resume_unfinished(self) -> list[str]:
        """Pick up benchmarks an earlier process left unfinished (at start-up)."""
        ...

    async def shutdown(self) -> None:
        """Stop this process' work, leaving its benchmarks resumable."""
        ...

    def watch_cancels(self) -> None:
        """Stop local work of benchmarks that any process cancels."""
        ...

    def unwatch_cancels(self) -> None:
        """Stop listening for cancels."""
        ...

    @property
    def running_count(self) -> int:
        """How many benchmarks this process is running now."""
        ...
