"""Reading a labspec document tolerantly: loading the JSON, and the field readers that
collect every problem (JSON path, what was found, what is allowed) and warning instead
of stopping at the first."""

from __future__ import annotations

import json
import re

from ads.errors import FieldProblem, LabspecError
from ads.lab import sizing

ROOT = "$"
COMMANDS_ALLOWED = "a list of non-empty shell command strings"
# Real labspecs are a few KiB; the cap keeps a wrong file (a log, an image, /dev/zero)
# from being read whole into memory before it is refused.
MAX_LABSPEC_BYTES = 1024 * 1024


def describe(value: object) -> str:
    """A one-line description of a found value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 60 else text[:56] + "...'"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 30 else text[:27] + "..."
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def key_path(parent: str, key: object) -> str:
    key = str(key)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{parent}.{key}" if parent and parent != ROOT else key
    return f"{parent}[{json.dumps(key)}]"


class Reader:
    """Walks a labspec document and collects problems and warnings."""

    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []
        self.warnings: list[str] = []

    def problem(self, path: str, found: str, allowed: str) -> None:
        self.problems.append(FieldProblem(path, found, allowed))

    def obj(self, parent: dict, key: str, path: str, *, required: bool = False) -> dict | None:
        value = parent.get(key)
        if isinstance(value, dict):
            return value
        if value is None and not required:
            return None
        found = "nothing" if key not in parent else describe(value)
        self.problem(path, found, "an object")
        return None

    def text(self, parent: dict, key: str, path: str, *, numbers: bool = False) -> str | None:
        value = parent.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return value.strip() or None
        if numbers and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self.problem(path, describe(value), "a string" + (" or a number" if numbers else ""))
        return None

    def commands(self, parent: dict | None, key: str, path: str) -> list[str]:
        value = (parent or {}).get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, describe(value), COMMANDS_ALLOWED)
            return []
        commands: list[str] = []
        for index, command in enumerate(value):
            where = f"{path}[{index}]"
            if not isinstance(command, str):
                self.problem(where, describe(command), "a non-empty shell command string")
            elif not command.strip():
                self.problem(
                    where, f"an empty command {describe(command)}", "a non-empty shell command"
                )
            elif "\x00" in command:
                self.problem(
                    where,
                    "a command with a NUL character",
                    "a shell command without NUL characters",
                )
            else:
                commands.append(command)
        return commands

    def size(self, parent: dict | None, key: str, path: str) -> int | None:
        if not parent:
            return None
        try:
            return sizing.parse_size_mib(parent.get(key), path)
        except LabspecError as exc:
            self.problems.extend(exc.problems)
            return None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def load_document(source: str | bytes | dict, reader: Reader) -> dict | None:
    allowed_document = 'a JSON object such as {"template": "1.0", "lab": {...}}'
    if isinstance(source, dict):
        return source
    if isinstance(source, str | bytes | bytearray) and len(source) > MAX_LABSPEC_BYTES:
        unit = "characters" if isinstance(source, str) else "bytes"
        reader.problem(
            ROOT,
            f"a document of {len(source)} {unit}",
            f"a labspec of at most {MAX_LABSPEC_BYTES} bytes (1 MiB)",
        )
        return None
    if isinstance(source, bytes | bytearray):
        try:
            source = bytes(source).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            reader.problem(
                ROOT, f"bytes that are not UTF-8 text (at byte {exc.start})", allowed_document
            )
            return None
    if not isinstance(source, str):
        reader.problem(ROOT, describe(source), allowed_document)
        return None
    text = source.removeprefix("\ufeff")
    if not text.strip():
        reader.problem(ROOT, "an empty document", allowed_document)
        return None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        reader.problem(
            ROOT,
            f"invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})",
            allowed_document,
        )
        return None
    except (ValueError, RecursionError) as exc:
        reason = "nesting too deep" if isinstance(exc, RecursionError) else str(exc).split("\n")[0]
        reader.problem(ROOT, f"invalid JSON ({reason})", allowed_document)
        return None
    if not isinstance(document, dict):
        reader.problem(ROOT, describe(document), allowed_document)
        return None
    return document


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
