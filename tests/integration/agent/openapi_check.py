"""A small checker for the part of OpenAPI 3.0 the agent's document uses: $ref, type,
nullable, required, properties, items, enum, minimum and maximum."""

from __future__ import annotations

from typing import Any

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
}


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def schema_problems(document: dict, schema: dict, value: Any, where: str = "$") -> list[str]:
    schema = _resolve(document, schema)
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null is not allowed"]
    wrong_type = _type_problem(schema.get("type"), value, where)
    if wrong_type:
        return [wrong_type]
    return _value_problems(schema, value, where) + _member_problems(document, schema, value, where)


def _type_problem(kind: str | None, value: Any, where: str) -> str | None:
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{where}: expected integer, found {value!r}"
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"{where}: expected number, found {value!r}"
    if kind in _TYPES and not isinstance(value, _TYPES[kind]):
        return f"{where}: expected {kind}, found {type(value).__name__}"
    return None


def _value_problems(schema: dict, value: Any, where: str) -> list[str]:
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{where}: {value!r} below {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        problems.append(f"{where}: {value!r} above {schema['maximum']}")
    return problems


def _member_problems(document: dict, schema: dict, value: Any, where: str) -> list[str]:
    problems: list[str] = []
    if schema.get("type") == "object":
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}.{name}: required but missing")
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                problems.extend(schema_problems(document, sub, value[name], f"{where}.{name}"))
    if schema.get("type") == "array":
        for index, item in enumerate(value):
            problems.extend(schema_problems(document, schema["items"], item, f"{where}[{index}]"))
    return problems


def response_problems(
    document: dict, path: str, method: str, status: int, content_type: str, body: Any
) -> list[str]:
    """What is wrong with an answer according to the document (empty when it conforms).
    ``body`` is parsed JSON for JSON answers and text otherwise."""
    operation = document["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return [f"{method} {path}: not in the document"]
    response = operation["responses"].get(str(status))
    if response is None:
        return [f"{method} {path}: status {status} is not documented"]
    content = response.get("content")
    if content is None:
        return []
    if content_type not in content:
        return [f"{method} {path} {status}: content type {content_type} not in {list(content)}"]
    return schema_problems(document, content[content_type]["schema"], body)
