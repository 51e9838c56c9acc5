"""Extract the WebSocket message payload schemas of asyncapi/asyncapi.yaml.

Writes one JSON Schema (draft 2020-12) whose ``$defs`` are the document's
``components/schemas`` (references rewritten to point into ``$defs``) and whose
root is ``WebSocketMessage``: any message payload of ``components/messages``.
datamodel-code-generator turns it into Python models (`tox -e codegen`).

Usage: python codegen/asyncapi_schemas.py ASYNCAPI_YAML OUTPUT_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

COMPONENT_SCHEMAS = "#/components/schemas/"


def message_schemas(asyncapi: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema document: every component schema, and the messages' union."""
    components = asyncapi["components"]
    payloads = sorted(
        {message["payload"]["$ref"] for message in components["messages"].values()}
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "WebSocketMessage",
        "description": "Any message of the WebSocket at /ws, in either direction.",
        "anyOf": [{"$ref": _in_defs(ref)} for ref in payloads],
        "$defs": _in_defs(components["schemas"]),
    }


def _in_defs(value: Any) -> Any:
    # Each "$ref" into components/schemas now points at the same name in $defs.
    if isinstance(value, str) and value.startswith(COMPONENT_SCHEMAS):
        return "#/$defs/" + value[len(COMPONENT_SCHEMAS) :]
    if isinstance(value, dict):
        return {key: _in_defs(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_in_defs(item) for item in value]
    return value


def main(argv: list[str]) -> int:
    """Read the AsyncAPI document, write the JSON Schema file."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    asyncapi = yaml.safe_load(Path(argv[1]).read_text(encoding="utf-8"))
    output = Path(argv[2])
    output.parent.mkdir(parents=True, exist_ok=True)
    schema = message_schemas(asyncapi)
    output.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    print(f"{output}: {len(schema['$defs'])} schemas, {len(schema['anyOf'])} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
