"""The action history: one JSON line per lab action run, kept across agent restarts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# Records are small (the output tail is bounded), so a generous line limit only guards
# against a damaged file, not against legitimate records.
_MAX_LINE = 64 * 1024
_READ_WINDOW = 8 * 1024 * 1024


class HistoryStore:
    """Append-only ``history.jsonl``: appends are fsynced so a record survives a crash or
    reboot right after the action finished; unreadable lines are skipped, not fatal."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write with O_APPEND keeps concurrent writers (deploy and action runs from
        # separate processes) from interleaving inside a line.
        fd = os.open(str(self.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, limit: int | None = None, action: str | None = None) -> list[dict[str, Any]]:
        """Records oldest first; with ``limit``, only the newest ``limit`` of them."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                start = max(0, size - _READ_WINDOW)
                handle.seek(start)
                data = handle.read()
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        if start > 0:
            lines = lines[1:]  # the first line of a window may be cut
        records = []
        for raw in lines:
            if not raw.strip() or len(raw) > _MAX_LINE:
                continue
            try:
                record = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            if action is not None and record.get("action") != action:
                continue
            records.append(record)
        if limit is not None:
            records = records[-limit:] if limit > 0 else []
        return records
