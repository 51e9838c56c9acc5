"""Find changes to an OpenAPI 3.0 document that would break clients of the old one.

A compact checker of our own rather than a library: the well-kept tool for this,
oasdiff, is a Go program that neither PyPI nor npm carries, and a few hundred lines
that know the constructs our spec uses (local ``$ref``, ``allOf``, ``nullable``,
``enum``, objects and arrays) are easier to trust than a second toolchain. Any
other schema keyword is compared for equality, so an unknown change is reported
rather than missed.

Direction matters. A request schema may only accept more than before (a client's
old request must still be valid); a response schema may only promise more
precisely than before (a client's old parsing must still work). So a removed enum
value breaks a request, while an added enum value breaks a response (generated
clients reject unknown values).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

Spec = Mapping[str, Any]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Keywords that, made stricter, refuse requests that were valid before.
UPPER_BOUNDS = ("maximum", "maxLength", "maxItems", "maxProperties")
LOWER_BOUNDS = ("minimum", "minLength", "minItems", "minProperties")
# Keywords this checker understands; any other keyword is compared for equality.
KNOWN = {
    "type", "nullable", "enum", "properties", "required", "items", "allOf",
    "additionalProperties", "pattern", "format", "uniqueItems", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", *UPPER_BOUNDS, *LOWER_BOUNDS,
    # Documentation only: never a break.
    "description", "example", "default", "title", "deprecated", "externalDocs",
}  # fmt: skip


def resolve(spec: Spec, node: Any, seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every local ``$ref`` replaced by its target, recursively."""
    if isinstance(node, list):
        return [resolve(spec, item, seen) for item in node]
    if not isinstance(node, Mapping):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            raise ValueError(f"recursive $ref {ref} is not supported")
        return resolve(spec, pointer(spec, ref), (*seen, ref))
    return {key: resolve(spec, value, seen) for key, value in node.items()}


def pointer(spec: Spec, ref: str) -> Any:
    """The target of a local reference such as ``#/components/schemas/Benchmark``."""
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref is supported, not {ref}")
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations(spec: Spec, prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, method, operation) for every operation under ``prefix``."""
    for path, item in spec.get("paths", {}).items():
        if path.startswith(prefix):
            for method in METHODS:
                if method in item:
                    yield path, method, item[method]


def breaking_changes(old: Spec, new: Spec, prefix: str = "/v1/") -> list[str]:
    """Every change from ``old`` to ``new`` under ``prefix`` that breaks a client."""
    found: list[str] = []
    new_ops = {(path, method): op for path, method, op in operations(new, prefix)}
    for path, method, old_op in operations(old, prefix):
        where = f"{method.upper()} {path}"
        new_op = new_ops.get((path, method))
        if new_op is None:
            found.append(f"{where}: operation removed")
            continue
        old_item, new_item = old["paths"][path], new["paths"][path]
        found += _security(old, new, old_op, new_op, where)
        found += _parameters(old, new, old_item, old_op, new_item, new_op, where)
        found += _request_body(old, new, old_op, new_op, where)
        found += _responses(old, new, old_op, new_op, where)
    return found


def _security(old: Spec, new: Spec, old_op: Any, new_op: Any, where: str) -> list[str]:
    def public(spec: Spec, op: Any) -> bool:
        requirements = op.get("security", spec.get("security", []))
        return not requirements or {} in requirements

    if public(old, old_op) and not public(new, new_op):
        return [f"{where}: now requires authentication"]
    return []


def _parameters(
    old: Spec,
    new: Spec,
    old_item: Any,
    old_op: Any,
    new_item: Any,
    new_op: Any,
    where: str,
) -> list[str]:
    def by_key(spec: Spec, item: Any, op: Any) -> dict[tuple[str, str], Any]:
        # Operation parameters override path-item ones with the same name and place.
        params = [
            resolve(spec, p)
            for p in [*item.get("parameters", []), *op.get("parameters", [])]
        ]
        return {(p["in"], p["name"]): p for p in params}

    found: list[str] = []
    old_params, new_params = (
        by_key(old, old_item, old_op),
        by_key(new, new_item, new_op),
    )
    for key, param in new_params.items():
        if param.get("required") and not old_params.get(key, {}).get("required"):
            found.append(f"{where}: parameter {key[1]} ({key[0]}) is now required")
    for key, param in old_params.items():
        if key not in new_params:
            found.append(f"{where}: parameter {key[1]} ({key[0]}) removed")
        elif "schema" in param:
            at = f"{where} parameter {key[1]}"
            found += compare(
                param["schema"], new_params[key].get("schema", {}), at, request=True
            )
    return found


def _request_body(
    old: Spec, new: Spec, old_op: Any, new_op: Any, where: str
) -> list[str]:
    old_body = resolve(old, old_op.get("requestBody", {}))
    new_body = resolve(new, new_op.get("requestBody", {}))
    found: list[str] = []
    if new_body.get("required") and not old_body.get("required"):
        found.append(f"{where}: request body is now required")
    for media, content in old_body.get("content", {}).items():
        new_content = new_body.get("content", {}).get(media)
        if new_content is None:
            found.append(f"{where}: request body {media} no longer accepted")
        else:
            at = f"{where} request"
            found += compare(
                content.get("schema", {}),
                new_content.get("schema", {}),
                at,
                request=True,
            )
    return found


def _responses(old: Spec, new: Spec, old_op: Any, new_op: Any, where: str) -> list[str]:
    found: list[str] = []
    new_responses = new_op.get("responses", {})
    for status, old_response in old_op.get("responses", {}).items():
        if status not in new_responses:
            # Dropping an error status documents less, but breaks no client's parsing.
            if str(status).startswith("2"):
                found.append(f"{where}: response {status} removed")
            continue
        old_content = resolve(old, old_response).get("content", {})
        new_content = resolve(new, new_responses[status]).get("content", {})
        for media, content in old_content.items():
            if media not in new_content:
                found.append(f"{where}: response {status} {media} removed")
            else:
                at = f"{where} response {status}"
                old_schema, new_schema = (
                    content.get("schema", {}),
                    new_content[media].get("schema", {}),
                )
                found += compare(old_schema, new_schema, at, request=False)
    return found


def compare(old: Any, new: Any, where: str, *, request: bool) -> list[str]:
    """Breaking differences between two resolved schemas, in one direction."""
    old, new = _merged(old), _merged(new)
    found: list[str] = []
    old_types, new_types = _types(old), _types(new)
    # What the receiver must now handle that it did not, or may no longer send.
    if request:
        lost = set() if "any" in new_types else old_types - new_types
        if "number" in new_types:
            lost -= {"integer"}  # a number field still accepts integers
    else:
        lost = set() if "any" in old_types else new_types - old_types
        if "number" in old_types:
            lost -= {"integer"}  # an integer is still a number
    if lost:
        found.append(f"{where}: type {sorted(old_types)} became {sorted(new_types)}")
    found += _enum(old, new, where, request)
    found += _objects(old, new, where, request)
    if "items" in old or "items" in new:
        found += compare(
            old.get("items", {}), new.get("items", {}), f"{where}[]", request=request
        )
    if request:
        found += _tighter(old, new, where)
    for key in (old.keys() | new.keys()) - KNOWN:
        if old.get(key) != new.get(key):
            found.append(
                f"{where}: {key} changed from {old.get(key)!r} to {new.get(key)!r}"
            )
    return found


def _merged(schema: Any) -> dict[str, Any]:
    """One schema for an ``allOf`` of schemas: properties and required joined."""
    if not isinstance(schema, Mapping):
        return {}
    merged = {key: value for key, value in schema.items() if key != "allOf"}
    for part in schema.get("allOf", []):
        part = _merged(part)
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _types(schema: Mapping[str, Any]) -> set[str]:
    if "type" in schema:
        types = {schema["type"]}
    elif "properties" in schema:
        types = {"object"}
    else:
        types = {"any"}
    if schema.get("nullable"):
        types.add("null")
    return types


def _enum(
    old: Mapping[str, Any], new: Mapping[str, Any], where: str, request: bool
) -> list[str]:
    old_enum, new_enum = old.get("enum"), new.get("enum")
    if request and new_enum is not None:
        if old_enum is None:
            return [f"{where}: now limited to the values {new_enum}"]
        if gone := set(old_enum) - set(new_enum):
            return [f"{where}: enum no longer accepts {sorted(map(str, gone))}"]
    if not request and old_enum is not None:
        if new_enum is None:
            return [f"{where}: enum dropped, any value may now come back"]
        if added := set(new_enum) - set(old_enum):
            return [f"{where}: enum widened with {sorted(map(str, added))}"]
    return []


def _objects(
    old: Mapping[str, Any], new: Mapping[str, Any], where: str, request: bool
) -> list[str]:
    found: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = (
        set(old.get("required", [])),
        set(new.get("required", [])),
    )
    for name, schema in old_props.items():
        if name not in new_props:
            found.append(f"{where}: field {name} removed")
        else:
            found += compare(
                schema, new_props[name], f"{where}.{name}", request=request
            )
    if request:
        for name in sorted(new_required - old_required):
            found.append(f"{where}: field {name} is now required")
        if (
            old.get("additionalProperties", True) is not False
            and new.get("additionalProperties") is False
        ):
            found.append(f"{where}: additional properties no longer accepted")
    else:
        for name in sorted(old_required - new_required):
            if name in new_props:
                found.append(f"{where}: field {name} is no longer always present")
    return found


def _tighter(old: Mapping[str, Any], new: Mapping[str, Any], where: str) -> list[str]:
    found: list[str] = []
    for key in UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            found.append(f"{where}: {key} lowered to {new[key]}")
    for key in LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            found.append(f"{where}: {key} raised to {new[key]}")
    for key in (
        "pattern",
        "format",
        "multipleOf",
        "exclusiveMinimum",
        "exclusiveMaximum",
    ):
        if new.get(key) not in (None, False) and new[key] != old.get(key):
            found.append(f"{where}: {key} now {new[key]!r}")
    if new.get("uniqueItems") and not old.get("uniqueItems"):
        found.append(f"{where}: items must now be unique")
    return found
