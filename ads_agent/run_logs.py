"""The output of each deploy step and action run, kept for success too, and read back.

Each run (the deploy sequence, an action) writes its output to one run log in
``logs/`` (``runner.run_sequence``; the newest 50 kept, each at most
:data:`MAX_RUN_LOG_BYTES`). Beside it, ``runs/<name>.json`` is the index of the newest
run of that name: the run log's file name, the run's status, and per command its step,
the byte range of its output in the log and its exit code. ``python3 -m ads_agent logs``
reads it back as one JSON document, bounded (:data:`DEFAULT_MAX_BYTES`, under the
24,000 characters SSM's GetCommandInvocation returns of a command's output), paged by
byte offset: what ``GET /labs/{lab_id}/logs`` answers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ads_agent import state

RUNS_DIR = "runs"
MAX_RUN_LOG_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_BYTES = 16_000
MAX_MAX_BYTES = 64_000
DEPLOY = "deploy"


class RunIndex:
    """``runs/<name>.json`` of the run in progress, rewritten as each command starts/ends."""

    def __init__(self, state_dir: Path, name: str, log_path: Path, started: str) -> None:
        self.path = state_dir / RUNS_DIR / f"{_safe(name)}.json"
        self.document: dict[str, Any] = {
            "name": name,
            "log": log_path.name,
            "started": started,
            "ended": None,
            "status": "running",
            "exit_code": None,
            "commands": [],
        }
        self._save()

    def command_started(self, step: str | None, command: str, offset: int) -> None:
        self.document["commands"].append(
            {"step": step, "command": command, "start": offset, "end": None, "exit_code": None}
        )
        self._save()

    def command_ended(self, offset: int, exit_code: int) -> None:
        self.document["commands"][-1].update(end=offset, exit_code=exit_code)
        self._save()

    def run_ended(self, ended: str, exit_code: int) -> None:
        self.document.update(
            ended=ended, exit_code=exit_code, status="succeeded" if exit_code == 0 else "failed"
        )
        self._save()

    def _save(self) -> None:
        state.write_json_atomic(self.path, self.document)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "run"


class UnknownRun(Exception):
    """No run of that step or action is kept; ``known`` lists those that are."""

    def __init__(self, message: str, known: list[str]) -> None:
        super().__init__(message)
        self.known = known


def read_logs(
    state_dir: Path,
    *,
    step: str | None = None,
    action: str | None = None,
    offset: int = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, Any]:
    """The output of ``action``'s newest run, or of the deploy's ``step`` (every step when
    neither is given), from byte ``offset`` of that output, at most ``max_bytes``."""
    name = action if action is not None else DEPLOY
    index = state.read_json(state_dir / RUNS_DIR / f"{_safe(name)}.json")
    if not isinstance(index, dict) or index.get("name") != name:
        raise UnknownRun(
            f"no run of {'action ' + repr(action) if action else 'the deploy'} is kept",
            known_actions(state_dir),
        )
    commands = [c for c in index.get("commands", []) if action or step is None or c["step"] == step]
    if step is not None and not commands:
        steps = list(dict.fromkeys(str(c["step"]) for c in index.get("commands", [])))
        raise UnknownRun(f"the deploy ran no step {step!r}", steps)
    log_path = state_dir / state.LOGS_DIR / str(index.get("log"))
    text, next_offset, complete = _read_ranges(log_path, commands, offset, max_bytes)
    running = index.get("status") == "running"
    return {
        "name": name,
        "kind": "action" if action else "deploy",
        "step": step,
        "status": index.get("status"),
        "exit_code": index.get("exit_code"),
        "started": index.get("started"),
        "ended": index.get("ended"),
        "steps": _steps_of(commands),
        "lines": text.splitlines(),
        "offset": offset,
        "next_offset": None if complete and not running else next_offset,
        "log_kept": log_path.is_file(),
    }


def _steps_of(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    steps: dict[str, dict[str, Any]] = {}
    for command in commands:
        key = str(command.get("step") or "")
        entry = steps.setdefault(key, {"step": command.get("step"), "exit_code": None})
        if command.get("exit_code") is not None:
            entry["exit_code"] = command["exit_code"]
    return list(steps.values())


def _read_ranges(
    log_path: Path, commands: list[dict[str, Any]], offset: int, max_bytes: int
) -> tuple[str, int, bool]:
    """The bytes of the commands' ranges, concatenated, from ``offset`` of that whole;
    the next offset and whether every range is finished and read."""
    try:
        handle = log_path.open("rb")
    except FileNotFoundError:
        return "", offset, True
    with handle:
        size = os.fstat(handle.fileno()).st_size
        chunks: list[bytes] = []
        position = 0  # in the concatenation of the ranges
        budget = max_bytes
        for command in commands:
            start = int(command["start"])
            end = size if command.get("end") is None else int(command["end"])
            length = max(0, end - start)
            if position + length <= offset:
                position += length
                continue
            skip = max(0, offset - position)
            handle.seek(start + skip)
            data = handle.read(min(length - skip, budget))
            chunks.append(data)
            budget -= len(data)
            position += skip + len(data)
            offset = position
            if budget <= 0:
                break
    data = b"".join(chunks)
    cut = data.rfind(b"\n") + 1 if budget <= 0 and b"\n" in data else len(data)
    data = data[:cut]
    next_offset = offset - (len(b"".join(chunks)) - cut)
    finished = all(c.get("end") is not None for c in commands)
    total = sum(max(0, int(c["end"]) - int(c["start"])) for c in commands) if finished else -1
    return data.decode("utf-8", "replace"), next_offset, finished and next_offset >= total


def known_actions(state_dir: Path) -> list[str]:
    names = []
    for path in sorted((state_dir / RUNS_DIR).glob("*.json")):
        document = state.read_json_quietly(path)
        if isinstance(document, dict) and document.get("name") not in (None, DEPLOY):
            names.append(str(document["name"]))
    return names


def print_logs(state_dir: Path, args: Any) -> int:
    """``python3 -m ads_agent logs``: the document on stdout, exit 0; 3 for an unknown
    step or action (the document then holds ``error`` and ``known``)."""
    try:
        document = read_logs(
            state_dir,
            step=args.step,
            action=args.action,
            offset=args.offset,
            max_bytes=args.max_bytes,
        )
    except UnknownRun as exc:
        print(json.dumps({"error": str(exc), "known": exc.known}))
        return 3
    print(json.dumps(document, separators=(",", ":")))
    return 0
