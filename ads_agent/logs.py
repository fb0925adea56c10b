"""Structured logs: one JSON object per line, to stderr or to a file."""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any


class JsonLog:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str | None) -> JsonLog:
        if not path:
            return cls(sys.stderr)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return cls(open(path, "a", buffering=1, encoding="utf-8"))

    def write(self, level: str, event: str, **fields: Any) -> None:
        entry = {
            "ts": datetime.now(timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": level,
            "event": event,
        }
        entry.update(fields)
        line = json.dumps(entry, default=str, separators=(",", ":"))
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # a closed or full log must not take the agent down

    def info(self, event: str, **fields: Any) -> None:
        self.write("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.write("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.write("error", event, **fields)
