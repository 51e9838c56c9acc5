"""What a plugin author implements: the contract between a plugin and the server.

A plugin is an installed Python distribution that declares an entry point in the
group ``llm_test_bench.plugins``::

    [project.entry-points."llm_test_bench.plugins"]
    keyword-coverage = "ltb_example_plugin:plugin"

The entry point names either an object that has the attributes below, or a class
or function that takes no arguments and returns one. The server never imports the
plugin into its own process: a separate worker process loads it, reads its manifest
once at start-up, and runs ``execute`` once per request, so a plugin that crashes,
hangs or prints to stdout cannot hurt the server.

The manifest (plain attributes):

``name``
    Short, human name, e.g. ``"keyword-coverage"`` (1 to 200 characters).
``version``
    The plugin's version, e.g. ``"1.0.0"`` (1 to 50 characters).
``plugin_type``
    ``"evaluator"``, ``"provider"`` or ``"dataset"``.
``description``
    One paragraph telling users what the plugin does (at most 2,000 characters).
``input_schema``
    A JSON Schema (as a dict) of the ``input`` that ``execute`` accepts; the server
    checks every request against it before starting the plugin, and refuses an
    invalid request with a 400 that names each failing field.

The work:

``execute(input: dict) -> dict``
    Called with a validated ``input``; returns a JSON object (at most
    ``LTB_PLUGIN_MAX_OUTPUT_BYTES`` once encoded). An evaluator's output must hold a
    ``score`` between 0 and 1 (more keys, such as an explanation, are welcome).
    Raise an exception to refuse an input: the caller gets a 422 carrying the
    exception's type and message. ``execute`` must return within
    ``LTB_PLUGIN_TIME_LIMIT`` seconds (10 by default) or its process is killed.

Plugins do not need to import anything from this package; ``Plugin`` below is a
``typing.Protocol`` that a type checker can verify a plugin object against.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

ENTRY_POINT_GROUP = "llm_test_bench.plugins"


class PluginType(StrEnum):
    """What a plugin adds to the bench."""

    EVALUATOR = "evaluator"
    PROVIDER = "provider"
    DATASET = "dataset"


@runtime_checkable
class Plugin(Protocol):
    """The object an entry point of ``llm_test_bench.plugins`` resolves to."""

    name: str
    version: str
    plugin_type: str
    description: str
    input_schema: dict[str, Any]

    def execute(self, input: dict[str, Any]) -> dict[str, Any]:
        """Do the plugin's work on one validated input; return a JSON object."""
        ...
