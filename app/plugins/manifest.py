"""A plugin's manifest: checked once at start-up, and the check of its inputs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from jsonschema import ValidationError, validators
from jsonschema.exceptions import SchemaError

from app.plugins.api import PluginType

# Plugin ids are uuid5 names in this namespace, so every worker and every restart
# gives a plugin the same id.
PLUGIN_ID_NAMESPACE = uuid.UUID("6f0c3b1e-5a52-4c1b-9a0e-4c7d2f1e8b90")
MAX_MESSAGE_CHARS = 200
_LIMITS = {"name": 200, "version": 50, "description": 2000}


class ManifestError(ValueError):
    """The manifest a plugin declares is unusable; the plugin is marked failed."""


@dataclass(frozen=True)
class Manifest:
    """What a plugin says about itself (see app.plugins.api)."""

    name: str
    version: str
    plugin_type: PluginType
    description: str
    input_schema: dict[str, Any]


def plugin_id(distribution: str, entry_point: str) -> str:
    """The stable id of the plugin an entry point of a distribution registers."""
    return str(uuid.uuid5(PLUGIN_ID_NAMESPACE, f"{distribution}/{entry_point}"))


def parse_manifest(raw: Any) -> Manifest:
    """The manifest of a worker's answer; ManifestError names what is wrong."""
    if not isinstance(raw, dict):
        raise ManifestError("manifest is not an object")
    problems = [
        f"{field} must be a string of 1 to {limit} characters"
        for field, limit in _LIMITS.items()
        if not isinstance(raw.get(field), str)
        or not 0 < len(raw[field]) <= limit
        or (field == "name" and raw[field] != raw[field].strip())
    ]
    if raw.get("plugin_type") not in set(PluginType):
        kinds = ", ".join(PluginType)
        problems.append(f"plugin_type must be one of {kinds}")
    problems += _schema_problems(raw.get("input_schema"))
    if problems:
        raise ManifestError("; ".join(problems))
    return Manifest(
        raw["name"],
        raw["version"],
        PluginType(raw["plugin_type"]),
        raw["description"],
        raw["input_schema"],
    )


def _schema_problems(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return ["input_schema must be a JSON Schema object"]
    try:
        validators.validator_for(schema).check_schema(schema)
    except SchemaError as e:
        return [f"input_schema is not a valid JSON Schema: {_clip(e.message)}"]
    return []


def input_errors(schema: dict[str, Any], plugin_input: Any) -> list[dict[str, Any]]:
    """Every way ``plugin_input`` fails ``schema``: ``[{field, message}]``.

    Fields are named from the request body, so a missing ``text`` is ``input.text``.
    """
    validator = validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(plugin_input), key=lambda e: list(e.path))
    return [_describe(error) for error in errors]


def _describe(error: ValidationError) -> dict[str, Any]:
    path = ["input", *map(str, error.path)]
    # jsonschema reports a missing property on its parent; name the property.
    if error.validator == "required":
        path += [
            str(name)
            for name in error.validator_value
            if error.message == f"{name!r} is a required property"
        ][:1]
    field = ".".join(part for part in path if part)
    return {"field": field, "message": _clip(str(error.message))}


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "..."
