"""Memory and storage sizes, and the choice of an instance type.

Sizes in labspecs come in many spellings ("256mb", "2gb", "1024M", "4 GB", "512 MiB",
a bare integer meaning MiB, null). Units are binary: 1gb = 1024 MiB, because that is
what the people who wrote "2gb" meant and what instance memory is measured in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ads.errors import FieldProblem, LabspecError
from ads.lab.os_catalogue import Arch

MIN_ROOT_VOLUME_GIB = 8
# The largest gp2/gp3 EBS volume.
MAX_ROOT_VOLUME_GIB = 16 * 1024

_UNIT_MIB: dict[str, float] = {
    "": 1,
    "k": 1 / 1024,
    "kb": 1 / 1024,
    "kib": 1 / 1024,
    "m": 1,
    "mb": 1,
    "mib": 1,
    "g": 1024,
    "gb": 1024,
    "gib": 1024,
    "t": 1024 * 1024,
    "tb": 1024 * 1024,
    "tib": 1024 * 1024,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)
SIZE_ALLOWED = (
    'a size such as "256mb", "2gb", "1024M", "4 GB", "512 MiB", '
    "a non-negative number of MiB, or null"
)


def _found(value: object) -> str:
    text = repr(value) if isinstance(value, str) else type(value).__name__
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_size_mib(value: object, path: str) -> int | None:
    """MiB (rounded up) for a labspec size; None when the spec leaves it open.

    Raises LabspecError naming ``path`` for negative or unreadable sizes.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise LabspecError(FieldProblem(path, f"a boolean ({value!r})", SIZE_ALLOWED))
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise LabspecError(FieldProblem(path, _found(value), SIZE_ALLOWED))
        return math.ceil(value)
    if not isinstance(value, str):
        raise LabspecError(FieldProblem(path, f"a {type(value).__name__}", SIZE_ALLOWED))
    match = _SIZE.fullmatch(value)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNIT_MIB:
        raise LabspecError(FieldProblem(path, _found(value), SIZE_ALLOWED))
    mib = float(match.group(1)) * _UNIT_MIB[unit]
    if not math.isfinite(mib):
        raise LabspecError(FieldProblem(path, _found(value), SIZE_ALLOWED))
    return math.ceil(mib)


def format_mib(mib: int) -> str:
    """The shortest labspec spelling of a size: 2048 -> "2gb", 256 -> "256mb"."""
    if mib and mib % (1024 * 1024) == 0:
        return f"{mib // (1024 * 1024)}tb"
    if mib and mib % 1024 == 0:
        return f"{mib // 1024}gb"
    return f"{mib}mb"


@dataclass(frozen=True)
class InstanceType:
    name: str
    arch: Arch
    memory_mib: int
    vcpus: int


def _family(prefix: str, arch: Arch, sizes: Sequence[tuple[str, float, int]]) -> list[InstanceType]:
    return [
        InstanceType(f"{prefix}.{size}", arch, int(gib * 1024), cpus) for size, gib, cpus in sizes
    ]


_BURSTABLE = (
    ("nano", 0.5, 2),
    ("micro", 1, 2),
    ("small", 2, 2),
    ("medium", 4, 2),
    ("large", 8, 2),
    ("xlarge", 16, 4),
    ("2xlarge", 32, 8),
)
_GENERAL_X86 = (("large", 8, 2), ("xlarge", 16, 4), ("2xlarge", 32, 8))
_GENERAL_ARM = (("medium", 4, 1), ("large", 8, 2), ("xlarge", 16, 4), ("2xlarge", 32, 8))

INSTANCE_TYPES: dict[str, InstanceType] = {
    t.name: t
    for t in [
        *_family("t3", "x86_64", _BURSTABLE),
        *_family("t3a", "x86_64", _BURSTABLE),
        *_family("t4g", "arm64", _BURSTABLE),
        *_family("m5", "x86_64", _GENERAL_X86),
        *_family("m6g", "arm64", _GENERAL_ARM),
    ]
}

DEFAULT_ALLOWED: dict[str, tuple[str, ...]] = {
    "x86_64": ("t3.micro", "t3.small", "t3.medium", "t3.large", "t3.xlarge", "t3.2xlarge"),
    "arm64": ("t4g.micro", "t4g.small", "t4g.medium", "t4g.large", "t4g.xlarge", "t4g.2xlarge"),
}

MEMORY_PATH = "lab.runtime_requirements.platform.memory.min_required"
STORAGE_PATH = "lab.runtime_requirements.platform.storage.min_required"
ARCH_PATH = "lab.runtime_requirements.platform.arch"
FALLBACK_COUNT = 2


@dataclass(frozen=True)
class InstanceChoice:
    instance_type: InstanceType
    fallbacks: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def candidate_types(
    arch: Arch, allowed_instance_types: Sequence[str] | None = None
) -> tuple[list[InstanceType], list[str]]:
    """Allowed types for ``arch``, smallest first, and warnings about names not understood."""
    names = list(allowed_instance_types or ()) or list(DEFAULT_ALLOWED[arch])
    unknown = [n for n in names if n not in INSTANCE_TYPES]
    warnings = [
        f"allowed instance type {n!r} is not in the instance catalogue and is ignored"
        for n in unknown
    ]
    known = [INSTANCE_TYPES[n] for n in dict.fromkeys(names) if n in INSTANCE_TYPES]
    fitting = [t for t in known if t.arch == arch]
    return sorted(fitting, key=lambda t: (t.memory_mib, t.vcpus, names.index(t.name))), warnings


def choose_instance_type(
    memory_mib: int | None,
    arch: Arch,
    allowed_instance_types: Sequence[str] | None = None,
    *,
    memory_path: str = MEMORY_PATH,
    arch_path: str = ARCH_PATH,
) -> InstanceChoice:
    """The smallest allowed type with at least ``memory_mib``; None means the smallest type."""
    types, warnings = candidate_types(arch, allowed_instance_types)
    if not types:
        arches = sorted(
            {INSTANCE_TYPES[n].arch for n in allowed_instance_types or () if n in INSTANCE_TYPES}
        )
        raise LabspecError(
            FieldProblem(
                arch_path,
                repr(arch),
                f"an architecture of the allowed instance types ({', '.join(arches) or 'none known'})",
            )
        )
    fitting = [t for t in types if memory_mib is None or t.memory_mib >= memory_mib]
    if not fitting:
        largest = types[-1]
        raise LabspecError(
            FieldProblem(
                memory_path,
                f"{format_mib(memory_mib or 0)} ({memory_mib} MiB)",
                f"at most {format_mib(largest.memory_mib)}, the memory of {largest.name}, "
                "the largest allowed instance type",
            )
        )
    chosen = fitting[0]
    fallbacks = tuple(t.name for t in fitting[1 : 1 + FALLBACK_COUNT])
    return InstanceChoice(chosen, fallbacks, tuple(warnings))


def root_volume_gib(storage_mib: int | None, *, storage_path: str = STORAGE_PATH) -> int:
    """max(storage.min_required, 8 GiB), rounded up to whole GiB."""
    gib = math.ceil((storage_mib or 0) / 1024)
    if gib > MAX_ROOT_VOLUME_GIB:
        raise LabspecError(
            FieldProblem(
                storage_path,
                f"{format_mib(storage_mib or 0)}",
                f"at most {MAX_ROOT_VOLUME_GIB // 1024}tb, the largest EBS volume",
            )
        )
    return max(gib, MIN_ROOT_VOLUME_GIB)
