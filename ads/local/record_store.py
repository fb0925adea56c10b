"""Durable lab records for the local plane: the labs table, mirrored to SQLite as it changes.

moto's DynamoDB lives in memory, so a crash of the daemon would lose every record.
Every write that reaches the labs table (PutItem, UpdateItem, DeleteItem, BatchWriteItem,
TransactWriteItems, whichever client or resource made it) is followed by a read of each
item it touched and an upsert (or delete) of that item in
``$ADS_HOME/local/records.sqlite3``; the next start puts every stored item back before
anything else runs. Lab records with their status history and the idempotency keys of
deployment requests are items of that table, so both survive.

SQLite in WAL mode with ``synchronous=FULL`` commits each change durably (a ``kill -9``
right after a write loses nothing), and its own locking keeps the file consistent.
Reading the item back under one lock, rather than storing what the call sent, keeps the
newest state when two requests update the same lab at once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ads.local.private_files import private_dir, restrict_file
from ads.local.usage import scope

RECORDS_FILE_NAME = "records.sqlite3"
WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
KEY_ATTRIBUTE = "lab_id"
TTL_ATTRIBUTE = "expires_at"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    item TEXT NOT NULL,
    updated_at REAL NOT NULL
)
"""


def _key_of(value: Any) -> str | None:
    # boto3's resource layer hands plain values to _make_api_call and turns them into
    # typed ones ({"S": ...}) in place while the call runs: accept both.
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return value["S"]
    return None


def keys_written(table_name: str, operation: str, params: Mapping[str, Any]) -> list[str]:
    """The keys of ``table_name`` that one DynamoDB write call may have changed."""
    found: list[Any] = []
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        if params.get("TableName") == table_name:
            shape = params.get("Item") if operation == "PutItem" else params.get("Key")
            found.append((shape or {}).get(KEY_ATTRIBUTE))
    elif operation == "BatchWriteItem":
        for request in (params.get("RequestItems") or {}).get(table_name) or []:
            put, delete = request.get("PutRequest"), request.get("DeleteRequest")
            shape = (put or {}).get("Item") or (delete or {}).get("Key") or {}
            found.append(shape.get(KEY_ATTRIBUTE))
    elif operation == "TransactWriteItems":
        for entry in params.get("TransactItems") or []:
            for kind in ("Put", "Update", "Delete"):
                part = entry.get(kind)
                if part and part.get("TableName") == table_name:
                    shape = part.get("Item") if kind == "Put" else part.get("Key")
                    found.append((shape or {}).get(KEY_ATTRIBUTE))
    keys = [k for k in map(_key_of, found) if k is not None]
    return list(dict.fromkeys(keys))


class RecordStore:
    """One DynamoDB table's items, kept in an owner-only SQLite file."""

    def __init__(
        self,
        path: Path,
        table_name: str,
        region: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.table_name = table_name
        self.region = region
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._client: Any = None

    def open(self) -> RecordStore:
        private_dir(self.path.parent)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(_SCHEMA)
        self._db = db
        for suffix in ("", "-wal", "-shm"):
            restrict_file(self.path.with_name(self.path.name + suffix))
        return self

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._client = None

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"the record store {self.path} is not open")
        return self._db

    def stored_items(self) -> list[dict[str, Any]]:
        """Every stored item, in DynamoDB's typed JSON form."""
        with self._lock:
            rows = self._conn.execute("SELECT item FROM items ORDER BY key").fetchall()
        return [json.loads(item) for (item,) in rows]

    def _dynamodb(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb", region_name=self.region)
        return self._client

    def capture(self, keys: Iterable[str]) -> None:
        """Store the current state of the items with these keys (or forget deleted ones)."""
        with self._lock:
            if self._db is None:
                # A step still finishing while the plane stops: the next start reconciles it.
                return
            client = self._dynamodb()
            was_internal, scope.internal = scope.internal, True
            try:
                for key in keys:
                    item = client.get_item(
                        TableName=self.table_name,
                        Key={KEY_ATTRIBUTE: {"S": key}},
                        ConsistentRead=True,
                    ).get("Item")
                    self._write(key, item)
            finally:
                scope.internal = was_internal

    def _write(self, key: str, item: dict[str, Any] | None) -> None:
        if item is None:
            self._conn.execute("DELETE FROM items WHERE key = ?", (key,))
        else:
            self._conn.execute(
                "INSERT INTO items (key, item, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET item = excluded.item, "
                "updated_at = excluded.updated_at",
                (key, json.dumps(item, separators=(",", ":")), self._clock()),
            )

    def restore(self) -> int:
        """Put every stored item back into the (empty, just created) table; returns how many.

        Items whose TTL has passed are dropped, as DynamoDB's TTL would have removed them.
        """
        now = self._clock()
        restored = 0
        client = self._dynamodb()
        was_internal, scope.internal = scope.internal, True
        try:
            for item in self.stored_items():
                key = item[KEY_ATTRIBUTE]["S"]
                ttl = item.get(TTL_ATTRIBUTE, {}).get("N")
                if ttl is not None and float(ttl) < now:
                    with self._lock:
                        self._write(key, None)
                    continue
                client.put_item(TableName=self.table_name, Item=item)
                restored += 1
        finally:
            scope.internal = was_internal
        return restored
