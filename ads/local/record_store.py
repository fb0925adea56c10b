"""Durable lab records for the local plane: the labs table, mirrored to SQLite as it changes.

moto's DynamoDB lives in memory, so a crash of the daemon would lose every record.
Every write that reaches the labs table (PutItem, UpdateItem, DeleteItem, BatchWriteItem,
TransactWriteItems, whichever client or resource made it) is followed by a read of each
item it touched and an upsert (or delete) of that item in
``$ADS_HOME/local/records.sqlite3``; the next start puts every stored item back before
anything else runs. Lab records with their status history and the idempotency keys of
deployment requests are items of that table, so both survive.

SQLite in WAL mode with ``synchronous=FULL`` commits durably, and its own locking keeps
the file consistent. Changes are committed in groups by one writer thread
(:mod:`ads.local.record_writer`): a write outside a handler invocation returns once it is
on disk; inside one (:meth:`RecordStore.deferred_durability`) the invocation's answer
waits until everything written so far is on disk. Either way a ``kill -9`` loses nothing
that anyone was told about. Reading the item back under one lock, rather than storing
what the call sent, keeps the newest state when two requests update the same lab at once.

The item is read from moto's table itself, under the lock that serialises moto's backend
calls (:mod:`ads.local.moto_serial`), not through a GetItem call: moto's response
serialiser walks every member of every attribute value, and a lab record (labspec, plan,
history) has a few hundred of them, so a GetItem per write cost more CPU than everything
else the write did.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ads.labs_table import TTL_ATTRIBUTE
from ads.local.moto_serial import backend_lock
from ads.local.private_files import private_dir, restrict_file
from ads.local.record_writer import RecordWriter
from ads.local.usage import scope

RECORDS_FILE_NAME = "records.sqlite3"
WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
KEY_ATTRIBUTE = "lab_id"
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
        # Orders reading an item with queueing it, so the file ends with the newest state.
        self._lock = threading.Lock()
        self._db_lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._writer: RecordWriter | None = None
        self._client: Any = None
        self._deferring = threading.local()

    def open(self) -> RecordStore:
        private_dir(self.path.parent)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(_SCHEMA)
        self._db = db
        self._writer = RecordWriter(db, self._db_lock)
        for suffix in ("", "-wal", "-shm"):
            restrict_file(self.path.with_name(self.path.name + suffix))
        return self

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        with self._db_lock:
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
        with self._db_lock:
            rows = self._conn.execute("SELECT item FROM items ORDER BY key").fetchall()
        return [json.loads(item) for (item,) in rows]

    def _dynamodb(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb", region_name=self.region)
        return self._client

    @contextlib.contextmanager
    def deferred_durability(self) -> Iterator[None]:
        """Writes of this thread inside the block become durable together, before it ends.

        A handler invocation runs in such a block: its answer (the API's response, a
        step's result) leaves only after every change made so far is on disk, with one
        wait instead of one per write. Outside a block each write waits for itself.
        """
        depth = getattr(self._deferring, "depth", 0)
        self._deferring.depth = depth + 1
        try:
            yield
        finally:
            self._deferring.depth = depth
            writer = self._writer
            if depth == 0 and writer is not None:
                writer.wait_for_all()

    def capture(self, keys: Iterable[str]) -> None:
        """Store the current state of the items with these keys (or forget deleted ones)."""
        with self._lock:
            writer = self._writer
            if writer is None:
                # A step still finishing while the plane stops: the next start reconciles it.
                return
            sequence = 0
            for key in keys:
                item = self._emulated_item(key)
                text = None if item is None else json.dumps(item, separators=(",", ":"))
                sequence = writer.queue((key, text, self._clock()))
        if sequence and not getattr(self._deferring, "depth", 0):
            writer.wait_for(sequence)

    def _emulated_item(self, key: str) -> dict[str, Any] | None:
        """The item as moto holds it now, in DynamoDB's typed JSON form (None if absent)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import DynamoType, dynamodb_backends

        with backend_lock():
            table = dynamodb_backends[DEFAULT_ACCOUNT_ID][self.region].get_table(self.table_name)
            item = table.get_item(DynamoType({"S": key}))
            if item is None:
                return None
            return {name: typed_json(value) for name, value in item.attrs.items()}

    def _forget(self, key: str) -> None:
        with self._lock:
            writer = self._writer
            sequence = writer.queue((key, None, self._clock())) if writer is not None else 0
        if writer is not None:
            writer.wait_for(sequence)

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
                    self._forget(key)
                    continue
                client.put_item(TableName=self.table_name, Item=item)
                restored += 1
        finally:
            scope.internal = was_internal
        return restored


def typed_json(value: Any) -> dict[str, Any]:
    """A moto ``DynamoType`` in DynamoDB's typed JSON form, in new dicts and lists.

    What ``Item.to_json()`` answers, in one walk: moto's own deep-copies each nested
    value again at every level, which made it most of a lab request's CPU (a record nests
    its labspec and plan a few levels deep). The leaves are strings, numbers as strings,
    booleans or None, so nothing shared with the table is left to change under the
    caller once the backend lock is released. Binary values are base64 text, as in
    DynamoDB's JSON.
    """
    inner = value.value
    if isinstance(inner, dict):
        return {value.type: {name: typed_json(member) for name, member in inner.items()}}
    if isinstance(inner, list):
        return {
            value.type: [
                # A list's members are DynamoTypes; a set's are plain strings.
                typed_json(member) if hasattr(member, "type") else _plain(member)
                for member in inner
            ]
        }
    return {value.type: _plain(inner)}


def _plain(leaf: Any) -> Any:
    return base64.b64encode(leaf).decode("ascii") if isinstance(leaf, bytes) else leaf
