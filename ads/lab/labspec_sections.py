"""Reading each section of a labspec: the description, the build and runtime requirements
and ADS's extensions (health probe, ports, timeouts), with the checks on what ADS acts on.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from ads.lab import os_catalogue, sizing
from ads.lab.labspec_model import (
    ACTION_NAMES,
    BUILD,
    BUILD_STEP_NAMES,
    DEFAULT_LAB_PORTS,
    DEPLOY_STEP_NAMES,
    MAX_HEALTH_TIMEOUT_S,
    RUNTIME,
    TEMPLATE_VERSION,
    BuildRequirements,
    HealthProbe,
    PlatformRequest,
    RuntimeRequirements,
    no_commands,
)
from ads.lab.labspec_reader import Reader, describe, is_int, is_number, key_path

PORTS_ALLOWED = (
    'a port number from 1 to 65535, a string such as "80" or "80,8080", or a list of them'
)
_ACTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The name is printed by the CLI, logged and shown in consoles: control characters (NUL,
# ESC sequences), line breaks and unassigned code points have no place in it.
MAX_LAB_NAME_CHARS = 128
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})
LAB_NAME_ALLOWED = (
    f"at most {MAX_LAB_NAME_CHARS} printable characters (no control characters or line breaks)"
)
MAX_COMMAND_TIMEOUT_S = 7 * 24 * 3600


def read_template(document: dict, reader: Reader) -> str:
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


def read_description(lab: dict, reader: Reader) -> tuple[str, str | None]:
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


def _printable(value: str | None, key: str, reader: Reader) -> str | None:
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


def _read_platform(platform: dict, path: str, reader: Reader) -> PlatformRequest:
    return PlatformRequest(
        os=reader.text(platform, "os", f"{path}.os"),
        os_version=reader.text(platform, "osVersion", f"{path}.osVersion", numbers=True),
        arch=reader.text(platform, "arch", f"{path}.arch"),
    )


def read_build(lab: dict, reader: Reader) -> BuildRequirements:
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


def _read_timeouts(platform: dict, reader: Reader) -> dict[str, float]:
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
        elif not (is_number(value) and 0 < value <= MAX_COMMAND_TIMEOUT_S):
            reader.problem(
                where, describe(value), f"seconds above 0, at most {MAX_COMMAND_TIMEOUT_S}"
            )
        else:
            timeouts[str(name)] = float(value)
    return timeouts


def _read_deadlines(platform: dict, reader: Reader) -> dict[str, int]:
    """Extension ``runtime_requirements.platform.deadlines``: ``{"boot": s, "init": s}``,
    how long this lab's VM may take to run and its install to end (ads/step_waits.py)."""
    from ads.config import MAX_BOOT_DEADLINE_S, MAX_INIT_DEADLINE_S

    path = f"{RUNTIME}.deadlines"
    given = reader.obj(platform, "deadlines", path)
    if not given:
        return {}
    highest = {"boot": MAX_BOOT_DEADLINE_S, "init": MAX_INIT_DEADLINE_S}
    deadlines: dict[str, int] = {}
    for name, value in given.items():
        where = key_path(path, name)
        if name not in highest:
            reader.problem(where, f"a name {describe(str(name))}", '"boot" or "init"')
        elif not (is_int(value) and 1 <= value <= highest[name]):
            reader.problem(where, describe(value), f"whole seconds from 1 to {highest[name]}")
        else:
            deadlines[str(name)] = int(value)
    return deadlines


def _read_health_probe(platform: dict, reader: Reader) -> HealthProbe | None:
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
            lambda v: v is None or (is_int(v) and 1 <= v <= 65535),
        ),
        "expect_status": (
            "an HTTP status code from 100 to 599",
            lambda v: is_int(v) and 100 <= v <= 599,
        ),
        "timeout_s": (
            f"a number of seconds above 0 and at most {MAX_HEALTH_TIMEOUT_S}",
            lambda v: is_number(v) and 0 < v <= MAX_HEALTH_TIMEOUT_S,
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


def _read_ports(platform: dict, reader: Reader) -> tuple[int, ...]:
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


def read_runtime(lab: dict, reader: Reader) -> RuntimeRequirements:
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
    actions = no_commands(ACTION_NAMES)
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
        deadlines=_read_deadlines(platform, reader),
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


def warn_on_disagreement(build: PlatformRequest, runtime: PlatformRequest, reader: Reader) -> None:
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
