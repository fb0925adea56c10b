"""Extension ``lab.roles``: a lab of several VMs that know about each other.

``lab.roles`` maps a role name to ``{"count", "after", "ports", "build_requirements",
"runtime_requirements"}``. The two sections are partial labspec sections, deep-merged
over the lab's own (objects merge key by key, lists and scalars replace), and the merged
document is read by the same parser, so a role that names no steps runs the lab's.
A role's VMs are named ``<role>-1`` ... ``<role>-<count>``; ``after`` orders the
bootstrap in waves (:func:`role_waves`). Unknown keys in a role are warned about, as
elsewhere in the labspec; what ADS acts on (names, counts, the order, ports) is checked.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ads.errors import FieldProblem, LabspecError
from ads.lab.labspec_model import LabRole, Labspec
from ads.lab.labspec_reader import Reader, describe, is_int, key_path

ROLES = "lab.roles"
ROLE_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}")
ROLE_NAME_ALLOWED = (
    "a name of a lowercase letter then at most 19 lowercase letters, digits or '-' "
    "(pattern ^[a-z][a-z0-9-]{0,19}$)"
)
MAX_ROLE_COUNT = 10
# Every VM of a lab is created by one Map state and counted by the quota as one lab.
MAX_LAB_VMS = 20
ROLE_KEYS = ("count", "after", "ports", "build_requirements", "runtime_requirements")
SECTIONS = ("build_requirements", "runtime_requirements")
PORTS_ALLOWED = "a non-empty list of port numbers from 1 to 65535"


@dataclass(frozen=True)
class RoleDraft:
    """A role as read from ``lab.roles``, before its merged document is parsed."""

    name: str
    count: int
    after: tuple[str, ...]
    ports: tuple[int, ...] | None
    sections: dict[str, dict[str, Any]]


def vm_names(role: str, count: int) -> list[str]:
    return [f"{role}-{index}" for index in range(1, count + 1)]


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base``: objects merge key by key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def role_waves(after: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Roles in bootstrap waves: a wave's roles wait only for roles of earlier waves;
    within a wave, the order of ``after``'s keys. Raises ValueError naming a cycle."""
    placed: set[str] = set()
    waves: list[list[str]] = []
    remaining = list(after)
    while remaining:
        wave = [name for name in remaining if set(after[name]) <= placed]
        if not wave:
            raise ValueError(" -> ".join(_cycle(after, remaining)))
        waves.append(wave)
        placed.update(wave)
        remaining = [name for name in remaining if name not in placed]
    return waves


def _cycle(after: Mapping[str, Sequence[str]], remaining: list[str]) -> list[str]:
    """One dependency cycle among ``remaining`` (each of which waits for another of them)."""
    path = [remaining[0]]
    while True:
        following = next(dep for dep in after[path[-1]] if dep in remaining)
        if following in path:
            return [*path[path.index(following) :], following]
        path.append(following)


def _read_count(role: dict, path: str, reader: Reader) -> int:
    value = role.get("count", 1)
    if is_int(value) and 1 <= value <= MAX_ROLE_COUNT:
        return int(value)
    reader.problem(f"{path}.count", describe(value), f"a whole number from 1 to {MAX_ROLE_COUNT}")
    return 1


def _read_after(
    role: dict, name: str, names: Sequence[str], path: str, reader: Reader
) -> tuple[str, ...]:
    value = role.get("after", [])
    if not isinstance(value, list):
        reader.problem(f"{path}.after", describe(value), "a list of other roles' names")
        return ()
    after: list[str] = []
    for index, item in enumerate(value):
        where = f"{path}.after[{index}]"
        others = ", ".join(repr(other) for other in names if other != name) or "none"
        if item == name:
            reader.problem(where, f"the role itself {describe(item)}", f"another role: {others}")
        elif not isinstance(item, str) or item not in names:
            reader.problem(where, describe(item), f"the name of another role: {others}")
        elif item not in after:
            after.append(item)
    return tuple(after)


def _read_ports(role: dict, path: str, reader: Reader) -> tuple[int, ...] | None:
    value = role.get("ports")
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        reader.problem(f"{path}.ports", describe(value), PORTS_ALLOWED)
        return None
    ports: list[int] = []
    for index, item in enumerate(value):
        if is_int(item) and 1 <= item <= 65535:
            if item not in ports:
                ports.append(int(item))
        else:
            reader.problem(f"{path}.ports[{index}]", describe(item), "a port from 1 to 65535")
    return tuple(ports)


def _read_role(name: str, role: object, names: Sequence[str], reader: Reader) -> RoleDraft | None:
    path = key_path(ROLES, name)
    if not ROLE_NAME.fullmatch(name):
        reader.problem(path, f"a role named {describe(name)}", ROLE_NAME_ALLOWED)
        return None
    if not isinstance(role, dict):
        reader.problem(path, describe(role), f"an object with {', '.join(ROLE_KEYS)}")
        return None
    unknown = [key for key in role if key not in ROLE_KEYS]
    if unknown:
        reader.warnings.append(
            f"{path}: unknown key(s) {', '.join(map(repr, unknown))} ignored; "
            f"a role has {', '.join(ROLE_KEYS)}"
        )
    sections = {key: reader.obj(role, key, f"{path}.{key}") or {} for key in SECTIONS}
    return RoleDraft(
        name=name,
        count=_read_count(role, path, reader),
        after=_read_after(role, name, names, path, reader),
        ports=_read_ports(role, path, reader),
        sections=sections,
    )


def read_role_drafts(lab: dict, reader: Reader) -> list[RoleDraft]:
    """The roles of ``lab.roles`` (none without it); problems go to ``reader``."""
    value = lab.get("roles")
    if value is None:
        return []
    if not isinstance(value, dict):
        reader.problem(ROLES, describe(value), "an object mapping role names to roles")
        return []
    if not value:
        reader.warnings.append(f"{ROLES} is empty; the lab is deployed on one VM")
        return []
    before = len(reader.problems)
    names = [str(name) for name in value]
    drafts = [_read_role(str(name), role, names, reader) for name, role in value.items()]
    roles = [draft for draft in drafts if draft is not None]
    total = sum(draft.count for draft in roles)
    if total > MAX_LAB_VMS:
        reader.problem(
            ROLES,
            f"{total} VMs in all",
            f"at most {MAX_LAB_VMS} VMs (the sum of the roles' counts)",
        )
    if len(reader.problems) == before:
        try:
            role_waves({draft.name: draft.after for draft in roles})
        except ValueError as exc:
            reader.problem(
                ROLES, f"a dependency cycle {exc}", "roles whose after lists form no cycle"
            )
    return roles


def merged_document(document: dict, draft: RoleDraft) -> dict[str, Any]:
    """The labspec a role's VMs deploy: the lab's document without ``roles``, the role's
    sections merged over it. Declared ``ports`` are where the role's application listens
    unless its runtime section names them itself."""
    merged = copy.deepcopy(document)
    lab = merged["lab"]
    lab.pop("roles", None)
    for key in SECTIONS:
        base = lab.get(key) if isinstance(lab.get(key), dict) else {}
        lab[key] = deep_merge(base, draft.sections[key])
    runtime = draft.sections["runtime_requirements"].get("platform")
    declares_ports = isinstance(runtime, dict) and "ports" in runtime
    platform = lab["runtime_requirements"].get("platform")
    if draft.ports and not declares_ports and isinstance(platform, dict):
        platform["ports"] = list(draft.ports)
    return merged


def role_problem(name: str, problem: FieldProblem) -> FieldProblem:
    """A problem of a role's merged document, pointed at the role's section."""
    for key in SECTIONS:
        prefix = f"lab.{key}"
        if problem.path == prefix or problem.path.startswith(prefix + "."):
            path = key_path(ROLES, name) + problem.path[len("lab") :]
            return FieldProblem(path, problem.found, problem.allowed)
    return FieldProblem(f"{key_path(ROLES, name)} ({problem.path})", problem.found, problem.allowed)


def parse_roles(
    document: dict,
    drafts: Sequence[RoleDraft],
    base: Labspec,
    parse: Callable[[dict], Labspec],
    reader: Reader,
) -> tuple[LabRole, ...]:
    """Each role with its merged labspec parsed by ``parse`` (the labspec parser)."""
    roles: list[LabRole] = []
    for draft in drafts:
        try:
            spec = parse(merged_document(document, draft))
        except LabspecError as exc:
            reader.problems.extend(role_problem(draft.name, p) for p in exc.problems)
            continue
        path = key_path(ROLES, draft.name)
        reader.warnings.extend(
            f"{path}: {warning}" for warning in spec.warnings if warning not in base.warnings
        )
        roles.append(
            LabRole(
                name=draft.name,
                count=draft.count,
                after=draft.after,
                ports=draft.ports or spec.runtime.ports,
                labspec=spec,
            )
        )
    return tuple(roles)
