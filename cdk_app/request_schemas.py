"""API Gateway request models from the API's own pydantic models.

API Gateway validates bodies against JSON Schema draft 4; pydantic emits draft 2020-12.
The conversion inlines every ``$ref`` (one self-contained schema per model, so nothing
depends on how API Gateway resolves references), turns the few newer keywords into their
draft 4 spelling and drops the ones draft 4 does not know. The models stay the single
source: the Lambda validates the same bodies again with pydantic, which also checks what
a schema cannot (architecture spellings, git URL schemes).
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

DRAFT_4 = "http://json-schema.org/draft-04/schema#"
# Keywords of later drafts with no draft 4 meaning; dropping one only loosens the model.
_DROPPED = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "examples",
        "readOnly",
        "writeOnly",
        "deprecated",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "discriminator",
        "propertyNames",
        "contains",
        "if",
        "then",
        "else",
        "unevaluatedProperties",
        "unevaluatedItems",
        "dependentRequired",
        "dependentSchemas",
        "minContains",
        "maxContains",
    }
)
# Keywords whose value is a map of name -> schema (the names are not keywords).
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
# Keywords whose value is a schema or a list of schemas.
_SCHEMAS = ("items", "additionalProperties", "additionalItems", "not")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def draft4_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema as a self-contained draft 4 document."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})
    converted = _convert(schema, definitions, ())
    return {"$schema": DRAFT_4, **converted}


def _resolve(ref: str, definitions: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    prefix = "#/$defs/"
    if not ref.startswith(prefix) or ref[len(prefix) :] not in definitions:
        raise ValueError(f"request schema: cannot resolve $ref {ref!r}")
    name = ref[len(prefix) :]
    if name in seen:
        raise ValueError(f"request schema: {name} refers to itself; it cannot be inlined")
    return _convert(definitions[name], definitions, (*seen, name))


def _convert(
    node: dict[str, Any], definitions: dict[str, Any], seen: tuple[str, ...]
) -> dict[str, Any]:
    node = copy.deepcopy(node)
    if "$ref" in node:
        # Sibling keywords of a $ref (a description, a default) are kept around it.
        resolved = _resolve(node.pop("$ref"), definitions, seen)
        node = {**resolved, **{k: v for k, v in node.items() if k not in resolved}}
    result: dict[str, Any] = {}
    for key, value in node.items():
        if not _dropped(key, value, node):
            result.update(_converted_keyword(key, value, definitions, seen))
    if "prefixItems" in node:
        result.update(_rest_of_items(node, definitions, seen))
    return result


def _dropped(key: str, value: Any, node: dict[str, Any]) -> bool:
    if key in _DROPPED or (key == "items" and "prefixItems" in node):
        return True  # `items` beside `prefixItems` becomes additionalItems
    # A null default is annotation only; CloudFormation templates cannot carry a JSON null.
    return key == "default" and value is None


def _converted_keyword(
    key: str, value: Any, definitions: dict[str, Any], seen: tuple[str, ...]
) -> dict[str, Any]:
    """The draft 4 keywords standing for one 2020-12 keyword."""
    if key == "const":
        return {"enum": [value]}
    if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
        bound = "minimum" if key == "exclusiveMinimum" else "maximum"
        return {bound: value, key: True}
    if key == "prefixItems":
        return {"items": [_convert(item, definitions, seen) for item in value]}
    if key in _SCHEMA_MAPS:
        return {key: {name: _convert(sub, definitions, seen) for name, sub in value.items()}}
    if key in _SCHEMAS and isinstance(value, dict):
        return {key: _convert(value, definitions, seen)}
    if key in _SCHEMA_LISTS:
        return {key: [_convert(item, definitions, seen) for item in value]}
    return {key: value}


def _rest_of_items(
    node: dict[str, Any], definitions: dict[str, Any], seen: tuple[str, ...]
) -> dict[str, Any]:
    """2020-12 `items` after `prefixItems` means "the rest": draft 4 additionalItems."""
    if "items" not in node:
        return {}
    rest = node["items"]
    return {"additionalItems": False if rest is False else _convert(rest, definitions, seen)}
