"""moto's DynamoDB answers at the cost of what they carry, for the local plane.

A profile of the plane's process over 50 concurrent labs (py-spy, GIL samples) put
about 70% of its Python time in two places of moto, both growing with the size of the
whole item rather than with what a request asks for:

- **Projections.** ``Item.project`` turns the *whole* item into plain Python once *per
  projected attribute*: a page of lab summaries (about 20 attributes) converted every
  lab record 20 times, labspec, plan and history included, to keep a tenth of it.
- **Answers.** moto's response serializer walks the output shape for every value of
  every item; for each ``AttributeValue`` it asks each of the ten members (``S``,
  ``N``, ... ``BOOL``) through alias providers and name transforms which key holds
  it. A whole lab record (a few hundred values) took milliseconds to send back.

:func:`install` gives the same answers (the tests compare them with moto's own, value
type by value type) by cheaper means: a projection of top-level attributes copies just
those attributes, and one of nested paths converts the item once; an
``AttributeValue`` is written as its one typed member directly (binary values
base64-encoded, as moto's serializer does), everything else is moto's.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

from ads.local.patching import patch, undo_all

# The members of DynamoDB's AttributeValue union, as the service model names them.
ATTRIBUTE_VALUE_MEMBERS = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})
_LIST_INDEX = "["


def _blob(value: str | bytes) -> str:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


class _Unknown(Exception):
    """A value this does not know how to write: moto's serializer writes it."""


def _member(kind: str, inner: Any) -> Any:
    if kind == "M":
        return {name: _typed(member) for name, member in inner.items()}
    if kind == "L":
        return [_typed(member) for member in inner]
    if kind == "B":
        return _blob(inner)
    if kind == "BS":
        return [_blob(member) for member in inner]
    if kind in {"SS", "NS"}:
        return list(inner)
    if kind in {"NULL", "BOOL"}:
        return bool(inner)
    if kind in ATTRIBUTE_VALUE_MEMBERS and isinstance(inner, str):
        return inner
    raise _Unknown(kind)


def _typed(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Unknown(type(value).__name__)
    return {kind: _member(kind, inner) for kind, inner in value.items() if inner is not None}


def encoded(value: dict[str, Any]) -> dict[str, Any] | None:
    """An AttributeValue (as moto's result holds it) in its wire form, or None when it
    holds something this does not know (moto's serializer then does it)."""
    try:
        return _typed(value)
    except _Unknown:
        return None


def _top_level(expressions: list[list[str]]) -> list[str] | None:
    """The attribute names of a projection that names only top-level attributes."""
    names = []
    for path in expressions:
        if len(path) != 1 or _LIST_INDEX in path[0]:
            return None
        names.append(path[0])
    return names


def install() -> Callable[[], None]:
    """Patch moto's projection and its JSON serializer (process-wide); returns the undo."""
    from botocore.utils import merge_dicts
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.dynamo_type import Item, serializer
    from moto.dynamodb.models.utilities import find_nested_key

    original_structure = BaseJSONSerializer._serialize_type_structure
    is_union: dict[int, bool] = {}

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        names = _top_level(projection_expressions)
        if names is not None:
            return Item(
                hash_key=self.hash_key,
                range_key=self.range_key,
                attrs={
                    name: copy.deepcopy(self.attrs[name]) for name in names if name in self.attrs
                },
            )
        # Nested paths: moto's walk, over one conversion of the item instead of one each.
        whole = self.to_regular_json()
        result: dict[str, Any] = {}
        for expression in projection_expressions:
            merge_dicts(result, find_nested_key(expression, whole))
        return Item(
            hash_key=self.hash_key,
            range_key=self.range_key,
            attrs=serializer.serialize(result)["M"],
        )

    def structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and isinstance(value, dict) and shape.name == "AttributeValue":
            union = is_union.get(id(shape))
            if union is None:
                union = is_union[id(shape)] = frozenset(shape.members) == ATTRIBUTE_VALUE_MEMBERS
            wire = encoded(value) if union else None
            if wire is not None:
                self._default_serialize(serialized, wire, shape, key)
                return
        original_structure(self, serialized, value, shape, key)

    return undo_all(
        [
            patch(Item, "project", project),
            patch(BaseJSONSerializer, "_serialize_type_structure", structure),
        ]
    )
