"""DynamoDB transactions in the local plane without copying the whole table each time.

moto's ``TransactWriteItems`` keeps a deep copy of every table the transaction names, to
put back if the transaction is cancelled. A lab request is one transaction (the record
and its owner's quota usage), so each request copied every record of the plane: about
150 ms of CPU per request with 60 labs, growing with every lab, which made the cost of a
burst of requests grow with the square of its size.

What a cancelled transaction must undo is the items it wrote, and it names them all. The
local plane runs every moto backend call under one lock (:mod:`ads.local.moto_serial`),
so nothing else changes those items while a transaction runs: keeping a copy of each of
them and putting it back on failure is the same rollback. While such a transaction runs,
moto's copy of a whole table returns the table itself (and its restore assigns the table
to itself).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from ads.local.patching import patch, undo_all

_state = threading.local()


class _TableSharingCopy:
    """moto's ``copy`` module, except that tables are not copied inside a transaction."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if getattr(_state, "depth", 0) and isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _written_keys(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    """(table, hash key, range key or None) of every item the transaction names."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    keys = []
    for entry in transact_items:
        for op_type, op in entry.items():
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            attrs = op.get("Item") if op_type == "Put" else op.get("Key")
            if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
                continue
            range_attr = table.range_key_attr
            range_key = DynamoType(attrs[range_attr]) if range_attr in attrs else None
            keys.append((table, DynamoType(attrs[table.hash_key_attr]), range_key))
    return keys


def _snapshot(keys: list[tuple[Any, Any, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    saved = []
    for table, hash_key, range_key in keys:
        try:
            item = table.get_item(hash_key, range_key)
        except Exception:  # a key moto refuses: the transaction will refuse it too
            item = None
        saved.append((table, hash_key, range_key, copy.deepcopy(item)))
    return saved


def _restore(saved: list[tuple[Any, Any, Any, Any]]) -> None:
    for table, hash_key, range_key, item in saved:
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
        elif item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item


def _item_rollback(original: Callable[..., Any]) -> Callable[..., Any]:
    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> Any:
        saved = _snapshot(_written_keys(backend, transact_items))
        _state.depth = getattr(_state, "depth", 0) + 1
        try:
            return original(backend, transact_items)
        except BaseException:
            _restore(saved)
            raise
        finally:
            _state.depth -= 1

    transact_write_items.__wrapped__ = original  # type: ignore[attr-defined]
    return transact_write_items


def install() -> Callable[[], None]:
    """Roll cancelled transactions back item by item (process-wide); returns the undo."""
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items
    return undo_all(
        [
            patch(models, "copy", _TableSharingCopy(Table)),
            patch(DynamoDBBackend, "transact_write_items", _item_rollback(original)),
        ]
    )
