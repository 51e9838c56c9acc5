"""Evaluator plugins as metrics: ``plugin:<name>`` in evaluations and benchmarks.

At start-up every ready evaluator plugin becomes one metric of the registry. The
plugin's input is built from the case by the names its ``input_schema`` declares
in ``properties``:

- ``text`` and ``output``: the output being scored;
- ``input``, ``expected``, ``context``: those parts of the case, when given;
- every other declared property is a parameter of the metric, given per request
  as ``parameters: {"plugin:<name>": {...}}``.

Parameters the input_schema refuses are a 400 when the evaluation or benchmark
is created (check_values). The plugin checks the whole input against its
input_schema as for any execution, and its ``score`` (0..1) is the metric's
value. The plugin runs in its own process, awaited in a thread, so the event loop
never waits on it; a plugin that fails (invalid input, raised, crashed, timed
out, disabled since start-up) gives a null value with the reason instead of an
error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app.errors import Conflict, LTBError
from app.evaluators.base import (
    Case,
    Kind,
    MetricInfo,
    MetricParameterError,
    MetricResult,
    Need,
)
from app.evaluators.registry import EvaluatorRegistry
from app.plugins.manifest import input_errors

if TYPE_CHECKING:
    from app.plugins.service import PluginService

logger = logging.getLogger(__name__)

PREFIX = "plugin:"
DISABLED = "plugin disabled"
# Input property names filled from the case, and the part of the case each needs.
CASE_FIELDS: dict[str, Need] = {
    "text": Need.OUTPUT,
    "output": Need.OUTPUT,
    "input": Need.INPUT,
    "expected": Need.EXPECTED,
    "context": Need.CONTEXT,
}


class PluginMetric:
    """One evaluator plugin, scoring cases through ``PluginService.execute_async``."""

    def __init__(self, plugins: PluginService, plugin: dict[str, Any]) -> None:
        self._plugins = plugins
        self.plugin_id: str = plugin["id"]
        properties = (plugin.get("input_schema") or {}).get("properties") or {}
        self._fields = [name for name in CASE_FIELDS if name in properties]
        self._input_schema: dict[str, Any] = plugin.get("input_schema") or {}
        self.info = MetricInfo(
            name=PREFIX + plugin["name"],
            description=(
                f"Plugin {plugin['name']} {plugin['version']}, run in its own "
                f"process; value = the plugin's score. {plugin['description']}"
            ),
            needs=frozenset(CASE_FIELDS[name] for name in self._fields),
            minimum=0.0,
            maximum=1.0,
            higher_is_better=True,
            kind=Kind.PLUGIN,
            version=plugin["version"],
            parameters={
                name: _describe(schema)
                for name, schema in properties.items()
                if name not in CASE_FIELDS
            },
            plugin={
                "id": plugin["id"],
                "name": plugin["name"],
                "version": plugin["version"],
            },
        )

    def check_values(self, given: Mapping[str, Any]) -> None:
        """Refuse parameters the plugin's input_schema refuses, before any run.

        The case fields (text, output, input...) are filled per case later; every
        other failure (a parameter of the wrong shape, a required one missing)
        would make every value of the run null, so it is a 400 now.
        """
        parameters = set(self.info.parameters)
        # Named where the caller wrote them: parameters.<metric>.<parameter>.
        where = f"parameters.{self.info.name}"
        errors = [
            {**error, "field": where + error["field"].removeprefix("input")}
            for error in input_errors(self._input_schema, dict(given))
            # "input.keywords.0" is about the parameter keywords; "input.text" is
            # a case field, given per case.
            if set(error["field"].split(".")[1:2]) & parameters
        ]
        if errors:
            fields = ", ".join(error["field"] for error in errors)
            raise MetricParameterError(
                f"Parameters of metric '{self.info.name}' are invalid: {fields}",
                details={"metric": self.info.name, "errors": errors},
            )

    def plugin_input(self, case: Case) -> dict[str, Any]:
        """What the plugin is given for ``case``: its parameters and case fields."""
        plugin_input = dict(case.parameters_of(self.info.name))
        values = {
            "text": case.output,
            "output": case.output,
            "input": case.input,
            "expected": case.expected,
            "context": case.context,
        }
        for name in self._fields:
            if values[name] is not None:
                plugin_input[name] = values[name]
        return plugin_input

    async def measure(self, case: Case) -> MetricResult:
        """Run the plugin on the case; null with the reason when it fails."""
        try:
            execution = await self._plugins.execute_async(
                self.plugin_id, self.plugin_input(case)
            )
        except Conflict as e:
            disabled = e.details.get("status") == "disabled"
            return MetricResult.unavailable(DISABLED if disabled else e.message)
        except LTBError as e:  # invalid input, raised, crashed, timed out, busy
            return MetricResult.unavailable(e.message)
        except Exception as e:
            logger.exception("plugin metric %s failed", self.info.name)
            return MetricResult.unavailable(f"internal error ({type(e).__name__})")

        output = execution.output
        return MetricResult(
            float(output["score"]),
            details={
                "plugin_output": {k: v for k, v in output.items() if k != "score"},
                "execution_time_ms": execution.execution_time_ms,
            },
        )


def _describe(schema: Any) -> str:
    if isinstance(schema, dict) and isinstance(schema.get("description"), str):
        return str(schema["description"])
    kind = schema.get("type", "any") if isinstance(schema, dict) else "any"
    return f"A plugin input field ({kind})."


def register_plugin_metrics(
    evaluators: EvaluatorRegistry, plugins: PluginService
) -> list[str]:
    """Register one metric per ready evaluator plugin; the names registered."""
    names = []
    for plugin in plugins.ready_evaluators():
        metric = PluginMetric(plugins, plugin)
        try:
            evaluators.register(metric)
        except ValueError:
            # Two installed plugins with one name: the first (by id) keeps it.
            logger.warning(
                "metric %s is taken; plugin %s skipped", metric.info.name, plugin["id"]
            )
            continue
        names.append(metric.info.name)
    return names
