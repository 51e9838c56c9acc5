"""The per-process runtime: services, and the bridge from handler threads to the loop.

Connexion's FlaskApp runs handlers in a thread pool, while provider clients and the
benchmark engine live on the ASGI server's event loop. Handlers hand coroutines to
that loop through ``Runtime.call`` instead of creating loops of their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.auth.service import AuthService
from app.benchmarks.executor import Executor
from app.errors import ServiceUnavailable
from app.evaluators.registry import EvaluatorRegistry
from app.events import EventBus
from app.observability.logs import REQUEST_ID
from app.plugins.service import PluginService
from app.providers.registry import ProviderRegistry
from app.settings import Settings
from app.store.database import Database

T = TypeVar("T")


@dataclass
class Runtime:
    """Everything a request handler needs, created once per worker process."""

    settings: Settings
    db: Database
    auth: AuthService
    providers: ProviderRegistry
    # The in-process engine, or the Celery executor (LTB_EXECUTOR).
    engine: Executor
    events: EventBus
    # Built-in metrics; plugins register theirs here at start-up.
    evaluators: EvaluatorRegistry
    plugins: PluginService
    started_at: float = field(default_factory=time.monotonic)
    loop: asyncio.AbstractEventLoop | None = None

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the server's event loop and wait for its result."""
        if self.loop is None or self.loop.is_closed():
            coro.close()
            raise ServiceUnavailable("The server is starting up or shutting down")
        # The loop runs the coroutine in a context of its own: carry the request id.
        carried = _with_request_id(coro, REQUEST_ID.get())
        future = asyncio.run_coroutine_threadsafe(carried, self.loop)
        return future.result(timeout)

    def uptime_seconds(self) -> int:
        """Whole seconds since this process started serving."""
        return int(time.monotonic() - self.started_at)


async def _with_request_id(coro: Coroutine[Any, Any, T], request_id: str | None) -> T:
    REQUEST_ID.set(request_id)  # in the task's own context: nobody else sees it
    return await coro
