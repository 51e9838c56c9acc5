"""Plugins as the domain sees them: list, enable or disable, execute, announce.

This is the one entry to plugins for every transport and for the benchmark and
evaluation code: ``execute`` (or ``execute_async`` from the event loop) runs a
plugin by id and returns its checked output; ``ready_evaluators`` lists the
evaluator plugins that can be used as metrics right now.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from app.events import EventBus
from app.events.topics import Topic
from app.plugins.api import PluginType
from app.plugins.discovery import InstalledPlugin, discover
from app.plugins.failures import (
    PluginBroke,
    PluginFailed,
    PluginRaised,
    PluginTimedOut,
)
from app.plugins.manifest import Manifest, input_errors
from app.plugins.process import WorkerLimits, WorkerRun, run_worker
from app.settings import Settings
from app.store.database import Database
from app.store.models import PluginState

logger = logging.getLogger(__name__)


class PluginStatus(StrEnum):
    """Whether a plugin can run: the spec's PluginStatus."""

    READY = "ready"
    FAILED = "failed"
    DISABLED = "disabled"


class PluginEvent(StrEnum):
    """What happened to a plugin, as published on ``plugin.events``."""

    LOADED = "loaded"
    ENABLED = "enabled"
    DISABLED = "disabled"
    EXECUTED = "executed"
    EXECUTION_FAILED = "execution_failed"


@dataclass(frozen=True)
class Execution:
    """A plugin's checked output and how long the whole execution took."""

    output: dict[str, Any]
    execution_time_ms: int


class PluginService:
    """The installed plugins of this process and what admins decided about them."""

    def __init__(
        self,
        db: Database,
        events: EventBus,
        installed: list[InstalledPlugin],
        limits: WorkerLimits,
        environ: Mapping[str, str],
        concurrency: int = 4,
    ) -> None:
        self._db = db
        self._events = events
        self._limits = limits
        self._environ = environ
        self._plugins = sorted(installed, key=lambda p: (_name(p), p.id))
        self._by_id = {plugin.id: plugin for plugin in self._plugins}
        # Each execution is a process; this bounds how many run at once.
        self._slots = threading.BoundedSemaphore(concurrency)

    @classmethod
    def load(cls, db: Database, events: EventBus, settings: Settings) -> PluginService:
        """Discover the installed plugins with the configured limits."""
        limits = WorkerLimits(
            settings.plugin_time_limit_s, settings.plugin_max_output_bytes
        )
        installed = discover(limits, settings.environ)
        return cls(
            db, events, installed, limits, settings.environ, settings.plugin_concurrency
        )

    def announce(self) -> None:
        """Publish one ``loaded`` event per plugin, with its status (at start-up)."""
        disabled = self._disabled_ids()
        for plugin in self._plugins:
            self._publish(plugin, PluginEvent.LOADED, _status(plugin, disabled))

    def list_plugins(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """A page of plugins ordered by name, and how many there are."""
        disabled = self._disabled_ids()
        page = self._plugins[offset : offset + limit]
        return [_summary(plugin, disabled) for plugin in page], len(self._plugins)

    def get_plugin(self, plugin_id: str) -> dict[str, Any]:
        """One plugin with its description, input schema and failure reason."""
        return _detail(self._find(plugin_id), self._disabled_ids())

    def ready_evaluators(self) -> list[dict[str, Any]]:
        """Evaluator plugins that can execute now: the metrics plugins offer."""
        disabled = self._disabled_ids()
        return [
            _detail(plugin, disabled)
            for plugin in self._plugins
            if plugin.manifest is not None
            and plugin.manifest.plugin_type is PluginType.EVALUATOR
            and _status(plugin, disabled) is PluginStatus.READY
        ]

    def set_enabled(
        self, plugin_id: str, enabled: bool, actor_id: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Enable or disable a plugin (kept in the database); whether it changed."""
        plugin = self._find(plugin_id)
        try:
            changed = self._store_enabled(plugin, enabled, actor_id)
        except IntegrityError:
            # The plugin's first decision, made by two requests at once: the other
            # one stored its row first. Now there is a row, this one updates it.
            changed = self._store_enabled(plugin, enabled, actor_id)
        disabled = self._disabled_ids()
        if changed:
            event = PluginEvent.ENABLED if enabled else PluginEvent.DISABLED
            self._publish(plugin, event, _status(plugin, disabled))
        return _detail(plugin, disabled), changed

    def _store_enabled(
        self, plugin: InstalledPlugin, enabled: bool, actor_id: str | None
    ) -> bool:
        """Store an admin's decision; whether it changes the plugin's state."""
        with self._db.session() as session:
            state = session.get(PluginState, plugin.id)
            changed = (state.enabled if state else True) != enabled
            if state is None:
                state = PluginState(plugin_id=plugin.id, name=_name(plugin))
                session.add(state)
            state.enabled = enabled
            state.updated_by = actor_id
            state.updated_at = datetime.now(UTC)
        return changed

    def execute(self, plugin_id: str, plugin_input: dict[str, Any]) -> Execution:
        """Run a ready plugin on a valid input in a worker process; blocks the thread.

        Raises NotFound, Conflict (disabled or failed to load), BadRequest (input
        does not match the plugin's input_schema), ServiceUnavailable (too many
        executions at once) or a PluginFailed (it raised, broke or timed out).
        """
        plugin = self._find(plugin_id)
        manifest = self._runnable(plugin)
        errors = input_errors(manifest.input_schema, plugin_input)
        if errors:
            fields = ", ".join(error["field"] for error in errors)
            raise BadRequest(
                f"Plugin input is invalid: {fields}", details={"errors": errors}
            )

        started = time.monotonic()
        run = self._run(plugin, plugin_input)
        elapsed_ms = round((time.monotonic() - started) * 1000)

        try:
            output = _output(plugin, run, self._limits)
        except PluginFailed as failure:
            self._publish(
                plugin,
                PluginEvent.EXECUTION_FAILED,
                PluginStatus.READY,
                failure.reason,
                execution_time_ms=elapsed_ms,
            )
            raise
        self._publish(
            plugin,
            PluginEvent.EXECUTED,
            PluginStatus.READY,
            execution_time_ms=elapsed_ms,
        )
        return Execution(output, elapsed_ms)

    async def execute_async(
        self, plugin_id: str, plugin_input: dict[str, Any]
    ) -> Execution:
        """``execute`` for code on the event loop: waits in a thread, not the loop."""
        return await asyncio.to_thread(self.execute, plugin_id, plugin_input)

    def _find(self, plugin_id: str) -> InstalledPlugin:
        plugin = self._by_id.get(plugin_id)
        if plugin is None:
            raise NotFound(f"Plugin '{plugin_id}' not found")
        return plugin

    def _runnable(self, plugin: InstalledPlugin) -> Manifest:
        status = _status(plugin, self._disabled_ids())
        if status is PluginStatus.DISABLED:
            raise Conflict(
                f"Plugin '{_name(plugin)}' is disabled; an admin can enable it",
                details={"plugin_id": plugin.id, "status": str(status)},
            )
        if plugin.manifest is None:
            raise Conflict(
                f"Plugin '{_name(plugin)}' failed to load and cannot execute",
                details={
                    "plugin_id": plugin.id,
                    "status": str(status),
                    "reason": plugin.failure,
                },
            )
        return plugin.manifest

    def _run(self, plugin: InstalledPlugin, plugin_input: dict[str, Any]) -> WorkerRun:
        if not self._slots.acquire(timeout=self._limits.time_limit_s):
            raise ServiceUnavailable(
                "Too many plugin executions at once; try again shortly",
                details={"plugin_id": plugin.id},
            )
        try:
            return run_worker(
                {
                    "op": "execute",
                    "path": sys.path,
                    "entry_point": plugin.entry_point.request(),
                    "input": plugin_input,
                },
                self._limits,
                self._environ,
            )
        finally:
            self._slots.release()

    def _disabled_ids(self) -> set[str]:
        # Read on every use: another worker process may have changed it.
        with self._db.session() as session:
            rows = session.scalars(
                select(PluginState.plugin_id).where(PluginState.enabled.is_(False))
            )
            return set(rows)

    def _publish(
        self,
        plugin: InstalledPlugin,
        event: PluginEvent,
        status: PluginStatus,
        reason: str | None = None,
        **extra: Any,
    ) -> None:
        # Never the input or output: they may hold users' prompts.
        self._events.publish(
            Topic.PLUGIN_EVENTS,
            {
                "plugin_id": plugin.id,
                "name": _name(plugin),
                "version": _version(plugin),
                "event": str(event),
                "status": str(status),
                "reason": reason if reason is not None else plugin.failure,
                "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                **extra,
            },
        )


def _output(
    plugin: InstalledPlugin, run: WorkerRun, limits: WorkerLimits
) -> dict[str, Any]:
    """The output a worker run produced, or the PluginFailed that describes it."""
    name = _name(plugin)
    if run.timed_out:
        raise PluginTimedOut(
            plugin.id,
            f"Plugin '{name}' ran longer than {limits.time_limit_s:g} s and was killed",
            time_limit_s=limits.time_limit_s,
        )
    if run.overflowed or run.garbage is not None:
        reason = "output_too_large" if run.overflowed else "bad_output"
        raise PluginBroke(
            plugin.id,
            f"Plugin '{name}' {run.ending}",
            reason,
            max_output_bytes=limits.max_output_bytes,
        )
    answer = run.messages[0] if run.messages else {}
    if "raised" in answer:
        raised = answer["raised"]
        raise PluginRaised(
            plugin.id,
            f"Plugin '{name}' raised {raised['type']}: {raised['message']}",
            error_type=raised["type"],
            error_message=raised["message"],
        )
    if "bad_output" in answer:
        message = f"Plugin '{name}' returned an unusable output: {answer['bad_output']}"
        raise PluginBroke(plugin.id, message, "bad_output")
    if "output" not in answer:
        raise PluginBroke(
            plugin.id, f"Plugin '{name}' process {run.ending}", exit_code=run.returncode
        )
    return _checked(plugin, answer["output"])


def _checked(plugin: InstalledPlugin, output: Any) -> dict[str, Any]:
    name = _name(plugin)
    if not isinstance(output, dict):
        message = f"Plugin '{name}' returned {type(output).__name__}, not an object"
        raise PluginBroke(plugin.id, message, "bad_output")
    assert plugin.manifest is not None
    score = output.get("score")
    if plugin.manifest.plugin_type is PluginType.EVALUATOR and (
        isinstance(score, bool)
        or not isinstance(score, int | float)
        or not 0 <= score <= 1
    ):
        message = f"Evaluator plugin '{name}' returned no score between 0 and 1"
        raise PluginBroke(plugin.id, message, "bad_output")
    return output


def _name(plugin: InstalledPlugin) -> str:
    return plugin.manifest.name if plugin.manifest else plugin.entry_point.name


def _version(plugin: InstalledPlugin) -> str:
    if plugin.manifest:
        return plugin.manifest.version
    return plugin.entry_point.distribution_version


def _status(plugin: InstalledPlugin, disabled: set[str]) -> PluginStatus:
    if plugin.id in disabled:
        return PluginStatus.DISABLED
    return PluginStatus.READY if plugin.manifest else PluginStatus.FAILED


def _summary(plugin: InstalledPlugin, disabled: set[str]) -> dict[str, Any]:
    return {
        "id": plugin.id,
        "name": _name(plugin),
        "version": _version(plugin),
        "plugin_type": str(plugin.manifest.plugin_type) if plugin.manifest else None,
        "status": str(_status(plugin, disabled)),
        "enabled": plugin.id not in disabled,
    }


def _detail(plugin: InstalledPlugin, disabled: set[str]) -> dict[str, Any]:
    manifest = plugin.manifest
    return {
        **_summary(plugin, disabled),
        "description": manifest.description if manifest else None,
        "input_schema": manifest.input_schema if manifest else None,
        "reason": plugin.failure,
        "entry_point": plugin.entry_point.name,
        "distribution": plugin.entry_point.distribution,
    }
