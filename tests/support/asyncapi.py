"""asyncapi/asyncapi.yaml as validators: every message a test sees is checked."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator, FormatChecker

ASYNCAPI_PATH = Path(__file__).resolve().parents[2] / "asyncapi" / "asyncapi.yaml"
# The messages each side sends, by the name of their payload schema.
CLIENT_MESSAGES = ("Auth", "Subscribe", "Unsubscribe", "Ping")
SERVER_MESSAGES = ("Pong", "Ack", "Error")
EVENT_SCHEMAS = {
    "benchmark.progress": "BenchmarkProgressEvent",
    "evaluation.results": "EvaluationResultsEvent",
    "system.metrics": "SystemMetricsEvent",
    "plugin.events": "PluginEventsEvent",
    "request.logs": "RequestLogsEvent",
}


@cache
def document() -> dict[str, Any]:
    """The AsyncAPI document, parsed."""
    loaded: dict[str, Any] = yaml.safe_load(ASYNCAPI_PATH.read_text(encoding="utf-8"))
    return loaded


@cache
def schema_validator(name: str) -> Draft7Validator:
    """A validator for one of components/schemas, its references resolved."""
    components = document()["components"]
    assert name in components["schemas"], f"no schema {name} in the document"
    # Draft 7 ignores keywords beside $ref, so the root can carry the components
    # that the schema's own references point into.
    root = {"$ref": f"#/components/schemas/{name}", "components": components}
    return Draft7Validator(root, format_checker=FormatChecker())


def server_schema_for(message: dict[str, Any]) -> str:
    """The name of the payload schema a server message must satisfy."""
    kind = message.get("type")
    if kind == "event":
        schema = EVENT_SCHEMAS.get(message.get("topic"))  # type: ignore[arg-type]
        assert schema is not None, f"event on an undocumented topic: {message}"
        return schema
    assert kind in {"pong", "ack", "error"}, f"undocumented server message: {message}"
    return str(kind).capitalize()


def check_server_message(message: dict[str, Any]) -> dict[str, Any]:
    """Assert a message the server sent is one the document describes; return it."""
    errors = sorted(
        schema_validator(server_schema_for(message)).iter_errors(message), key=str
    )
    assert not errors, f"{message} breaks the AsyncAPI document: {errors[0].message}"
    return message
