"""The labspec (``template: "1.0"``): parse what real lab repositories contain.

Real specs are messy. What only describes the lab (developers, disciplines, service
packs, unknown keys) is tolerated whatever its shape; what ADS acts on (commands, sizes,
the OS, the architecture) must be right, and every problem found is reported with its
JSON path, what was found and what is allowed. The parser reports all problems it can
find in one go, so an author fixes a spec in one round.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ads.errors import FieldProblem, LabspecError
from ads.lab import os_catalogue, sizing

TEMPLATE_VERSION = "1.0"
BUILD_STEP_NAMES = ("configure", "pre_build", "build", "post_build", "status")
ACTION_NAMES = (
    "init",
    "start",
    "shutdown",
    "pause",
    "resume",
    "stop",
    "backup",
    "restore",
    "clean",
    "stats",
    "publish",
)


def _no_commands(names: tuple[str, ...]) -> dict[str, list[str]]:
    return {name: [] for name in names}


ROOT = "$"
RUNTIME = "lab.runtime_requirements.platform"
BUILD = "lab.build_requirements.platform"
COMMANDS_ALLOWED = "a list of non-empty shell command strings"
MAX_HEALTH_TIMEOUT_S = 30
# The port a Virtual Labs application listens on when its labspec names none (Apache).
DEFAULT_LAB_PORTS = (80,)
PORTS_ALLOWED = (
    'a port number from 1 to 65535, a string such as "80" or "80,8080", or a list of them'
)
# Real labspecs are a few KiB; the cap keeps a wrong file (a log, an image, /dev/zero)
# from being read whole into memory before it is refused.
MAX_LABSPEC_BYTES = 1024 * 1024
_ACTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The name is printed by the CLI, logged and shown in consoles: control characters (NUL,
# ESC sequences), line breaks and unassigned code points have no place in it.
MAX_LAB_NAME_CHARS = 128
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})
LAB_NAME_ALLOWED = (
    f"at most {MAX_LAB_NAME_CHARS} printable characters (no control characters or line breaks)"
)


class HealthProbe(BaseModel):
    """How to tell the lab itself answers (extension: ``runtime_requirements.platform.health_probe``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = "/"
    port: int | None = Field(default=None, ge=1, le=65535)
    expect_status: int = Field(default=200, ge=100, le=599)
    timeout_s: float = Field(default=3.0, gt=0, le=MAX_HEALTH_TIMEOUT_S)


class PlatformRequest(BaseModel):
    """The OS and architecture a section asks for, as written (normalised later)."""

    model_config = ConfigDict(frozen=True)

    os: str | None = None
    os_version: str | None = None
    arch: str | None = None


class BuildRequirements(BaseModel):
    model_config = ConfigDict(frozen=True)

    platform: PlatformRequest = PlatformRequest()
    installer: list[str] = []
    build_steps: dict[str, list[str]] = Field(
        default_factory=lambda: _no_commands(BUILD_STEP_NAMES)
    )


class RuntimeRequirements(BaseModel):
    model_config = ConfigDict(frozen=True)

    platform: PlatformRequest = PlatformRequest()
    memory_min_mib: int | None = None
    memory_max_mib: int | None = None
    storage_min_mib: int | None = None
    installer: list[str] = []
    lab_actions: dict[str, list[str]] = Field(default_factory=lambda: _no_commands(ACTION_NAMES))
    health_probe: HealthProbe | None = None
    # Extension: where the lab's own application listens (`runtime_requirements.platform.ports`).
    ports: tuple[int, ...] = DEFAULT_LAB_PORTS
    # Seconds each command of a deploy step or lab action may run, by name (``default``
    # for the others); the agent's own default applies where this says nothing.
    timeouts: dict[str, float] = Field(default_factory=dict)


class Labspec(BaseModel):
    model_config = ConfigDict(frozen=True)

    template: str = TEMPLATE_VERSION
    name: str
    lab_code: str | None = None  # description.id, e.g. "cse06"
    build: BuildRequirements = BuildRequirements()
    runtime: RuntimeRequirements = RuntimeRequirements()
    warnings: list[str] = []
    document: dict[str, Any] = Field(default_factory=dict, repr=False)


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


class _Reader:
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


def _load_document(source: str | bytes | dict, reader: _Reader) -> dict | None:
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


def _read_template(document: dict, reader: _Reader) -> str:
    value = document.get("template")
    if value is None:
        reader.warnings.append(
            f'the labspec has no "template"; read as template {TEMPLATE_VERSION}'
        )
        return TEMPLATE_VERSION
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 1:
        return TEMPLATE_VERSION
    if value != TEMPLATE_VERSION:
        reader.problem("template", describe(value), f'"{TEMPLATE_VERSION}"')
    return TEMPLATE_VERSION


def _read_description(lab: dict, reader: _Reader) -> tuple[str, str | None]:
    description = reader.obj(lab, "description", "lab.description") or {}
    name = _printable(reader.text(description, "name", "lab.description.name"), "name", reader)
    lab_code = _printable(
        reader.text(description, "id", "lab.description.id", numbers=True), "id", reader
    )
    developer = description.get("developer")
    if developer is not None and not isinstance(developer, dict | list):
        reader.warnings.append("lab.description.developer is neither an object nor a list; ignored")
    if not name:
        name = lab_code or "lab"
        reader.warnings.append(
            f"the labspec has no lab.description.name; the lab is called {name!r}"
        )
    return name, lab_code


def _printable(value: str | None, key: str, reader: _Reader) -> str | None:
    """``value`` when it can name a lab; otherwise a problem is recorded and None returned."""
    if value is None:
        return None
    path = f"lab.description.{key}"
    if len(value) > MAX_LAB_NAME_CHARS:
        reader.problem(path, f"a text of {len(value)} characters", LAB_NAME_ALLOWED)
        return None
    bad = next((c for c in value if unicodedata.category(c) in _UNPRINTABLE_CATEGORIES), None)
    if bad is not None:
        reader.problem(
            path,
            f"{json.dumps(value[:40], ensure_ascii=True)} with the character U+{ord(bad):04X}",
            LAB_NAME_ALLOWED,
        )
        return None
    return value


def _read_platform(platform: dict, path: str, reader: _Reader) -> PlatformRequest:
    return PlatformRequest(
        os=reader.text(platform, "os", f"{path}.os"),
        os_version=reader.text(platform, "osVersion", f"{path}.osVersion", numbers=True),
        arch=reader.text(platform, "arch", f"{path}.arch"),
    )


def _read_build(lab: dict, reader: _Reader) -> BuildRequirements:
    section = reader.obj(lab, "build_requirements", "lab.build_requirements") or {}
    platform = reader.obj(section, "platform", BUILD) or {}
    steps_obj = reader.obj(platform, "build_steps", f"{BUILD}.build_steps") or {}
    steps = {
        name: reader.commands(steps_obj, name, f"{BUILD}.build_steps.{name}")
        for name in BUILD_STEP_NAMES
    }
    unknown = [key for key in steps_obj if key not in BUILD_STEP_NAMES]
    if unknown:
        reader.warnings.append(
            f"{BUILD}.build_steps: unknown step(s) {', '.join(map(repr, unknown))} ignored; "
            f"ADS runs {', '.join(BUILD_STEP_NAMES)}"
        )
    return BuildRequirements(
        platform=_read_platform(platform, BUILD, reader),
        installer=reader.commands(platform, "installer", f"{BUILD}.installer"),
        build_steps=steps,
    )


MAX_COMMAND_TIMEOUT_S = 7 * 24 * 3600
DEPLOY_STEP_NAMES = ("build_installer", *BUILD_STEP_NAMES, "runtime_installer", "init", "start")


def _read_timeouts(platform: dict, reader: _Reader) -> dict[str, float]:
    """Extension ``runtime_requirements.platform.timeouts``: ``{name: seconds}`` for deploy
    steps and lab actions (e.g. ``{"start": 120, "backup": 3600, "default": 900}``)."""
    path = f"{RUNTIME}.timeouts"
    given = reader.obj(platform, "timeouts", path)
    if not given:
        return {}
    timeouts: dict[str, float] = {}
    for name, value in given.items():
        where = key_path(path, name)
        known = name in DEPLOY_STEP_NAMES or name == "default"
        if not known and not _ACTION_NAME.fullmatch(str(name)):
            reader.problem(where, f"a name {describe(str(name))}", "a deploy step or action name")
        elif not (_is_number(value) and 0 < value <= MAX_COMMAND_TIMEOUT_S):
            reader.problem(
                where, describe(value), f"seconds above 0, at most {MAX_COMMAND_TIMEOUT_S}"
            )
        else:
            timeouts[str(name)] = float(value)
    return timeouts


def _read_health_probe(platform: dict, reader: _Reader) -> HealthProbe | None:
    path = f"{RUNTIME}.health_probe"
    probe = reader.obj(platform, "health_probe", path)
    if probe is None:
        return None
    rules: dict[str, tuple[str, Callable[[Any], bool]]] = {
        "path": (
            'a URL path starting with "/" and without spaces',
            lambda v: isinstance(v, str) and v.startswith("/") and not re.search(r"\s", v),
        ),
        "port": (
            "null (the lab's port) or an integer from 1 to 65535",
            lambda v: v is None or (_is_int(v) and 1 <= v <= 65535),
        ),
        "expect_status": (
            "an HTTP status code from 100 to 599",
            lambda v: _is_int(v) and 100 <= v <= 599,
        ),
        "timeout_s": (
            f"a number of seconds above 0 and at most {MAX_HEALTH_TIMEOUT_S}",
            lambda v: _is_number(v) and 0 < v <= MAX_HEALTH_TIMEOUT_S,
        ),
    }
    before = len(reader.problems)
    for key, value in probe.items():
        if key not in rules:
            reader.problem(key_path(path, key), f"an unknown key {key!r}", ", ".join(rules))
        elif not rules[key][1](value):
            reader.problem(key_path(path, key), describe(value), rules[key][0])
    if len(reader.problems) > before:
        return None
    return HealthProbe(**probe)


def _as_port(part: object) -> int | None:
    number = int(part) if isinstance(part, str) and part.isdigit() else part
    if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 65535:
        return number
    return None


def _port_numbers(value: object) -> list[int] | None:
    """The ports of one tolerant item (8080, "8080", "80, 8080"); None if it is not one."""
    parts = [p for p in re.split(r"[\s,]+", value) if p] if isinstance(value, str) else [value]
    numbers = [_as_port(part) for part in parts]
    if not numbers or None in numbers:
        return None
    return [n for n in numbers if n is not None]


def _read_ports(platform: dict, reader: _Reader) -> tuple[int, ...]:
    path = f"{RUNTIME}.ports"
    value = platform.get("ports")
    if value is None or value == [] or value == "":
        return DEFAULT_LAB_PORTS
    items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
    ports: list[int] = []
    for index, item in items:
        numbers = _port_numbers(item)
        if numbers is None:
            where = path if index is None else f"{path}[{index}]"
            reader.problem(where, describe(item), PORTS_ALLOWED)
            continue
        ports.extend(n for n in numbers if n not in ports)
    return tuple(ports) or DEFAULT_LAB_PORTS


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _read_runtime(lab: dict, reader: _Reader) -> RuntimeRequirements:
    section = reader.obj(lab, "runtime_requirements", "lab.runtime_requirements", required=True)
    platform = {}
    if section is not None:
        platform = reader.obj(section, "platform", RUNTIME, required=True) or {}
    request = _read_platform(platform, RUNTIME, reader)
    if request.arch:
        try:
            os_catalogue.normalise_arch(request.arch)
        except ValueError:
            reader.problem(f"{RUNTIME}.arch", describe(request.arch), os_catalogue.arch_spellings())

    memory = reader.obj(platform, "memory", f"{RUNTIME}.memory")
    storage = reader.obj(platform, "storage", f"{RUNTIME}.storage")
    memory_min = reader.size(memory, "min_required", f"{RUNTIME}.memory.min_required")
    memory_max = reader.size(memory, "max_required", f"{RUNTIME}.memory.max_required")
    storage_min = reader.size(storage, "min_required", f"{RUNTIME}.storage.min_required")
    if memory_min is not None and memory_max is not None and memory_max < memory_min:
        reader.warnings.append(
            f"{RUNTIME}.memory.max_required ({sizing.format_mib(memory_max)}) is below "
            f"min_required ({sizing.format_mib(memory_min)}); max_required is ignored"
        )

    actions_obj = reader.obj(platform, "lab_actions", f"{RUNTIME}.lab_actions") or {}
    actions = _no_commands(ACTION_NAMES)
    for name in actions_obj:
        where = key_path(f"{RUNTIME}.lab_actions", name)
        if not _ACTION_NAME.fullmatch(str(name)):
            # The agent runs actions by name (`ads_agent action NAME`), so keep names plain.
            reader.problem(
                where,
                f"an action named {describe(str(name))}",
                "a name of letters, digits, '_' and '-'",
            )
            continue
        actions[name] = reader.commands(actions_obj, name, where)

    return RuntimeRequirements(
        platform=request,
        memory_min_mib=memory_min,
        memory_max_mib=memory_max,
        storage_min_mib=storage_min,
        installer=reader.commands(platform, "installer", f"{RUNTIME}.installer"),
        lab_actions=actions,
        health_probe=_read_health_probe(platform, reader),
        timeouts=_read_timeouts(platform, reader),
        ports=_read_ports(platform, reader),
    )


def _os_label(request: PlatformRequest) -> tuple[str, str, str]:
    family = request.os or ""
    known = os_catalogue.normalise_family(family) if family else None
    name = known[0] if known else family.strip().lower()
    version = os_catalogue.normalise_version(name, request.os_version) if request.os_version else ""
    arch = request.arch or ""
    with contextlib.suppress(ValueError):
        arch = os_catalogue.normalise_arch(arch)[0] if arch else ""
    return name, version, arch


def _warn_on_disagreement(
    build: PlatformRequest, runtime: PlatformRequest, reader: _Reader
) -> None:
    if not (build.os or build.os_version or build.arch):
        return
    b_os, b_version, b_arch = _os_label(build)
    r_os, r_version, r_arch = _os_label(runtime)
    if (b_os, b_version) != (r_os, r_version) and b_os:
        reader.warnings.append(
            f"build_requirements asks for {b_os} {b_version or '(any version)'} but "
            f"runtime_requirements for {r_os or '(no OS)'} {r_version or '(any version)'}; "
            "the runtime section decides the OS"
        )
    if b_arch and r_arch and b_arch != r_arch:
        reader.warnings.append(
            f"build_requirements asks for {build.arch} but runtime_requirements for "
            f"{runtime.arch}; the runtime section decides the architecture"
        )


def parse_labspec(source: str | bytes | dict) -> Labspec:
    """Read a labspec from its JSON text (or an already decoded object).

    Raises LabspecError listing every problem found.
    """
    reader = _Reader()
    document = _load_document(source, reader)
    if document is None:
        raise LabspecError(reader.problems)
    template = _read_template(document, reader)
    lab = document.get("lab")
    if not isinstance(lab, dict):
        found = describe(lab) if "lab" in document else "nothing"
        allowed = "an object holding description, build_requirements and runtime_requirements"
        if "lab" not in document and {"runtime_requirements", "build_requirements"} & set(document):
            found += " (the requirements are at the top level)"
            allowed = 'the requirements wrapped in {"lab": {...}}'
        reader.problem("lab", found, allowed)
        raise LabspecError(reader.problems)
    name, lab_code = _read_description(lab, reader)
    build = _read_build(lab, reader)
    runtime = _read_runtime(lab, reader)
    if reader.problems:
        raise LabspecError(reader.problems)
    _warn_on_disagreement(build.platform, runtime.platform, reader)
    return Labspec(
        template=template,
        name=name,
        lab_code=lab_code,
        build=build,
        runtime=runtime,
        warnings=reader.warnings,
        document=document,
    )
