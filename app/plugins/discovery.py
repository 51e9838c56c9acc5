"""Find installed plugins and read their manifests, without importing them here.

Entry points are read from package metadata in the server process (no plugin code
runs for that); the manifests are read by worker processes. A plugin that raises,
hangs or kills the interpreter on import is marked failed with the reason, and the
plugins after it are loaded by a fresh worker.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points

from app.plugins.api import ENTRY_POINT_GROUP
from app.plugins.manifest import Manifest, ManifestError, parse_manifest, plugin_id
from app.plugins.process import WorkerLimits, WorkerRun, run_worker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntryPointRef:
    """An entry point of the plugin group, as package metadata declares it."""

    name: str
    value: str
    distribution: str
    distribution_version: str

    @property
    def plugin_id(self) -> str:
        """The stable id of the plugin it registers."""
        return plugin_id(self.distribution, self.name)

    def request(self) -> dict[str, str]:
        """How a worker request names it."""
        return {"name": self.name, "value": self.value}


@dataclass(frozen=True)
class InstalledPlugin:
    """An entry point and what loading it gave: a manifest, or why there is none."""

    entry_point: EntryPointRef
    manifest: Manifest | None
    failure: str | None

    @property
    def id(self) -> str:
        """The plugin's stable id."""
        return self.entry_point.plugin_id


def installed_entry_points(group: str = ENTRY_POINT_GROUP) -> list[EntryPointRef]:
    """Every entry point of ``group`` in the installed distributions, by name."""
    found = [
        EntryPointRef(
            ep.name,
            ep.value,
            ep.dist.name if ep.dist else "unknown",
            ep.dist.version if ep.dist else "unknown",
        )
        for ep in entry_points(group=group)
    ]
    return sorted(found, key=lambda ref: (ref.name, ref.distribution))


def discover(
    limits: WorkerLimits,
    environ: Mapping[str, str],
    refs: list[EntryPointRef] | None = None,
) -> list[InstalledPlugin]:
    """Load the manifest of every plugin (each within the time limit)."""
    pending = installed_entry_points() if refs is None else list(refs)
    loaded: list[InstalledPlugin] = []
    while pending:
        run = run_worker(
            {
                "op": "manifest",
                "path": sys.path,
                "entry_points": [ref.request() for ref in pending],
            },
            limits,
            environ,
            limit_per_message=True,
        )
        done = _answered(pending, run)
        loaded += done
        pending = pending[len(done) :]
        if pending:  # the worker died while loading the first of these
            loaded.append(
                InstalledPlugin(pending[0], None, f"worker {run.ending} on import")
            )
            pending = pending[1:]
    for plugin in loaded:
        logger.info(
            "plugin %s (%s) %s",
            plugin.entry_point.name,
            plugin.id,
            f"failed: {plugin.failure}" if plugin.failure else "loaded",
        )
    return loaded


def _answered(pending: list[EntryPointRef], run: WorkerRun) -> list[InstalledPlugin]:
    """The plugins a worker answered for, in order, before it ended."""
    answers = [m for m in run.messages if "index" in m]
    done = []
    for position, answer in enumerate(answers):
        if answer["index"] != position or position >= len(pending):
            break
        done.append(_installed(pending[position], answer))
    return done


def _installed(ref: EntryPointRef, answer: dict[str, object]) -> InstalledPlugin:
    if "manifest" not in answer:
        return InstalledPlugin(ref, None, str(answer.get("failure", "no manifest")))
    try:
        return InstalledPlugin(ref, parse_manifest(answer["manifest"]), None)
    except ManifestError as e:
        return InstalledPlugin(ref, None, f"invalid manifest: {e}")
