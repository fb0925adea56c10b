"""Group commit for the record store: one writer thread, one fsync for many changes.

Every change to a lab record must be on disk before anyone is told about it (an API
answer, a workflow step's result), but it need not be on disk *alone*: a ``COMMIT`` in
SQLite's WAL mode with ``synchronous=FULL`` is one fsync, and on a disk shared with
running labs one fsync takes milliseconds. Changes are therefore queued in the order
they were read from the table, and a single thread writes everything queued so far in
one transaction. Whoever needs durability waits for a sequence number:
:meth:`RecordWriter.wait_for` for one change, :meth:`RecordWriter.wait_for_all` for
everything queued until now. Concurrent requests thus share fsyncs instead of queueing
behind each other's.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

# (key, the item as JSON, or None when the item was deleted, when it was read)
Change = tuple[str, str | None, float]


class RecordWriteError(RuntimeError):
    """The records file refused a change: what was waited for is not durable."""


class RecordWriter:
    """Writes queued changes to ``db`` in order, many per transaction."""

    def __init__(self, db: sqlite3.Connection, db_lock: threading.Lock) -> None:
        self._db = db
        # Held while the connection is used (this thread's commits, the store's reads).
        self._db_lock = db_lock
        self._cond = threading.Condition()
        self._pending: list[Change] = []
        self._queued = 0
        self._committed = 0
        self._failure: BaseException | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="ads-record-writer", daemon=True)
        self._thread.start()

    def queue(self, change: Change) -> int:
        """Queue a change; returns the sequence number to wait for."""
        with self._cond:
            if self._closing:
                raise RecordWriteError("the record store is closing")
            self._pending.append(change)
            self._queued += 1
            self._cond.notify_all()
            return self._queued

    def wait_for(self, sequence: int) -> None:
        """Return once change ``sequence`` (and every one before it) is on disk."""
        with self._cond:
            self._cond.wait_for(lambda: self._committed >= sequence or self._failure is not None)
            if self._committed < sequence:
                raise RecordWriteError(f"the records file refused a change: {self._failure}")

    def wait_for_all(self) -> None:
        """Return once everything queued until now is on disk."""
        with self._cond:
            sequence = self._queued
        self.wait_for(sequence)

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closing)
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
                last = self._queued
            try:
                self._commit(batch)
            except BaseException as exc:  # the waiters report it; nothing later is written
                with self._cond:
                    self._failure = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._committed = last
                self._cond.notify_all()

    def _commit(self, batch: list[Change]) -> None:
        with self._db_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for key, item, at in batch:
                    _apply(self._db.execute, key, item, at)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise


def _apply(execute: Callable[..., object], key: str, item: str | None, at: float) -> None:
    if item is None:
        execute("DELETE FROM items WHERE key = ?", (key,))
    else:
        execute(
            "INSERT INTO items (key, item, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET item = excluded.item, "
            "updated_at = excluded.updated_at",
            (key, item, at),
        )
