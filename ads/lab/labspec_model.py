"""The labspec as ADS reads it: the sections and fields a deployment acts on.

:func:`ads.lab.labspec.parse_labspec` builds these from a document; the plan, the
egress rules and the agent read them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


def no_commands(names: tuple[str, ...]) -> dict[str, list[str]]:
    return {name: [] for name in names}


RUNTIME = "lab.runtime_requirements.platform"
BUILD = "lab.build_requirements.platform"
MAX_HEALTH_TIMEOUT_S = 30
# The port a Virtual Labs application listens on when its labspec names none (Apache).
DEFAULT_LAB_PORTS = (80,)
DEPLOY_STEP_NAMES = ("build_installer", *BUILD_STEP_NAMES, "runtime_installer", "init", "start")


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
    build_steps: dict[str, list[str]] = Field(default_factory=lambda: no_commands(BUILD_STEP_NAMES))


class RuntimeRequirements(BaseModel):
    model_config = ConfigDict(frozen=True)

    platform: PlatformRequest = PlatformRequest()
    memory_min_mib: int | None = None
    memory_max_mib: int | None = None
    storage_min_mib: int | None = None
    installer: list[str] = []
    lab_actions: dict[str, list[str]] = Field(default_factory=lambda: no_commands(ACTION_NAMES))
    health_probe: HealthProbe | None = None
    # Extension: where the lab's own application listens (`runtime_requirements.platform.ports`).
    ports: tuple[int, ...] = DEFAULT_LAB_PORTS
    # Seconds each command of a deploy step or lab action may run, by name (``default``
    # for the others); the agent's own default applies where this says nothing.
    timeouts: dict[str, float] = Field(default_factory=dict)
    # Extension: the deadlines of DeployLab's waits for this lab, in whole seconds
    # (``boot``, ``init``); the configuration's apply where this says nothing.
    deadlines: dict[str, int] = Field(default_factory=dict)


class Labspec(BaseModel):
    model_config = ConfigDict(frozen=True)

    template: str = TEMPLATE_VERSION
    name: str
    lab_code: str | None = None  # description.id, e.g. "cse06"
    build: BuildRequirements = BuildRequirements()
    runtime: RuntimeRequirements = RuntimeRequirements()
    warnings: list[str] = []
    document: dict[str, Any] = Field(default_factory=dict, repr=False)
    # Extension ``lab.roles`` (a lab of several VMs), in the document's order; empty for
    # a lab of one VM. See :mod:`ads.lab.labspec_roles`.
    roles: tuple[LabRole, ...] = ()


class LabRole(BaseModel):
    """One role of a lab of several VMs: ``count`` VMs named ``<name>-1`` ... each
    deployed from ``labspec``, the lab's document with the role's sections merged over it."""

    model_config = ConfigDict(frozen=True)

    name: str
    count: int = 1
    after: tuple[str, ...] = ()
    ports: tuple[int, ...] = DEFAULT_LAB_PORTS
    labspec: Labspec


Labspec.model_rebuild()
