"""moto's DynamoDB item size check in one walk of the item, for the local plane.

moto refuses an item over DynamoDB's 400 KB limit (``ItemSizeTooLarge``), which the
plane wants: it must not accept what DynamoDB refuses. The check it runs costs the
square of the item, though. An item is built attribute by attribute, and each one
added sums the sizes of all those before it; the size of a map wraps each of its
values in a new ``DynamoType``, which wraps every value below it again. A lab record
(its labspec and plan nest a few levels deep, a few dozen attributes) made the check
about 40% of the CPU of a lab request, and every workflow step that writes a record
paid it too.

:func:`install` computes the same sizes (the same number for every value) without the
wrapping, and keeps a running total while an item's attributes are built: it refuses
the same items as moto, at the same attribute, in one walk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ads.local.patching import patch, undo_all

# moto's threshold for DynamoDB's 400 KB (dynamo_type.LimitedSizeDict).
ITEM_SIZE_LIMIT = 405000
_SETS = frozenset({"SS", "NS", "BS"})


def _bytesize(value: Any) -> int:
    return len(value if isinstance(value, bytes) else value.encode("utf-8"))


def _typed(member: Any) -> Any:
    # Map members are DynamoTypes once an item is built; moto's size() wraps anything.
    if hasattr(member, "type"):
        return member
    from moto.dynamodb.models.dynamo_type import DynamoType

    return DynamoType(member)


def value_size(value: Any) -> int:
    """``DynamoType.size()`` as moto defines it, without re-wrapping nested values."""
    kind, inner = value.type, value.value
    if kind == "N":
        return len(str(inner))
    if kind in _SETS:
        if kind == "NS":
            return sum(len(str(member)) for member in inner)
        return sum(_bytesize(member) for member in inner)
    if kind == "L":
        return sum(value_size(member) for member in inner)
    if kind == "M":
        return sum(_bytesize(name) + value_size(_typed(member)) for name, member in inner.items())
    if isinstance(inner, bool):
        return 1
    return _bytesize(inner)


def install() -> Callable[[], None]:
    """Patch moto's size check (process-wide); returns the undo action."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    def size(self: Any) -> int:
        return value_size(self)

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        built = LimitedSizeDict()
        total = 0
        for name, raw in attrs.items():
            value = DynamoType(raw)
            total += _bytesize(name) + value_size(value)
            if total > ITEM_SIZE_LIMIT:
                raise ItemSizeTooLarge
            dict.__setitem__(built, name, value)
        self.attrs = built

    return undo_all([patch(DynamoType, "size", size), patch(Item, "__init__", init)])
