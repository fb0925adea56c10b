"""The deployment plan: what ADS will create for a labspec, and what it costs.

The plan is computed once (API or ``ads plan``), stored in the lab record and read by
every later step and by the agent on the VM, so it is plain JSON
(``DeploymentPlan.model_dump(mode="json")``) and round-trips through
``DeploymentPlan.model_validate``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ads.config import LabAccessMode
from ads.errors import FieldProblem, LabspecError
from ads.lab import egress, os_catalogue, pricing, sizing
from ads.lab.cluster import ClusterPlan, build_cluster
from ads.lab.lab_id import slugify
from ads.lab.labspec import parse_labspec
from ads.lab.labspec_model import (
    ACTION_NAMES,
    BUILD_STEP_NAMES,
    DEFAULT_LAB_PORTS,
    HealthProbe,
    Labspec,
)
from ads.lab.labspec_roles import role_problem
from ads.lab.os_catalogue import Arch, OsPolicy

STEP_NAMES = (
    "build_installer",
    *BUILD_STEP_NAMES,
    "runtime_installer",
    "init",
    "start",
)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


class PlanOptions(BaseModel):
    """Per-request choices: the OS policy, an architecture override and the region; and
    the control plane's lab access mode (configuration, not the requester's choice)."""

    model_config = ConfigDict(frozen=True)

    os_policy: OsPolicy = os_catalogue.DEFAULT_OS_POLICY
    arch: Arch | None = None
    region: str = "us-east-1"
    access: LabAccessMode = "private"
    # Whether lab VMs reach the internet (ADS_NETWORK_EGRESS); "none" refuses labs that need it.
    network_egress: egress.NetworkEgress = "nat"

    @field_validator("arch", mode="before")
    @classmethod
    def _normalise_arch(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return os_catalogue.normalise_arch(value)[0]
            except ValueError:
                raise ValueError(f"unknown architecture {value!r}") from None
        return value

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        if not _REGION.fullmatch(value):
            raise ValueError(f"not an AWS region name: {value!r}")
        return value


class OsChoice(BaseModel):
    family: str
    version: str
    requested_family: str
    requested_version: str | None
    substituted: bool
    policy: OsPolicy
    eol: date
    lts: bool


class ImageRef(BaseModel):
    ssm_parameter: str


class PlanStep(BaseModel):
    name: str
    commands: list[str] = []


class DeploymentPlan(BaseModel):
    lab_name: str
    lab_slug: str
    os: OsChoice
    arch: Arch
    requested_arch: str | None
    image: ImageRef
    instance_type: str
    fallback_instance_types: list[str] = []
    memory_mib: int
    requested_memory_mib: int | None
    vcpus: int
    root_volume_gib: int
    region: str
    hourly_cost_usd: float | None
    price_source: str
    # The root volume, billed running or stopped (plans made before it was priced lack it).
    storage_monthly_cost_usd: float | None = None
    storage_price_source: str | None = None
    steps: list[PlanStep]
    actions: dict[str, list[str]]
    health_probe: HealthProbe | None = None
    # Seconds per command of a step or action, by name (the labspec's ``timeouts``).
    timeouts: dict[str, float] = Field(default_factory=dict)
    # The deadlines of DeployLab's waits for this lab (the labspec's ``deadlines``).
    deadlines: dict[str, int] = Field(default_factory=dict)
    # How students reach the lab (ADS_LAB_ACCESS) and the ports its application listens on.
    access: LabAccessMode = "private"
    lab_ports: list[int] = Field(default_factory=lambda: list(DEFAULT_LAB_PORTS), min_length=1)
    network_egress: egress.NetworkEgress = "nat"
    warnings: list[str] = Field(default_factory=list)
    # A lab of several VMs (``lab.roles``); absent from the JSON of a lab of one VM, whose
    # plan stays as it always was. With a cluster, the costs above are the cluster's totals
    # and ``lab_ports`` the union of its roles' ports.
    cluster: ClusterPlan | None = Field(default=None, exclude_if=lambda value: value is None)

    @model_validator(mode="after")
    def _steps_in_deploy_order(self) -> DeploymentPlan:
        names = tuple(step.name for step in self.steps)
        if names != STEP_NAMES:
            raise ValueError(f"steps must be {', '.join(STEP_NAMES)} in that order; got {names}")
        missing = [name for name in ACTION_NAMES if name not in self.actions]
        if missing:
            raise ValueError(f"actions lack {', '.join(missing)}")
        return self

    def step(self, name: str) -> PlanStep:
        return next(step for step in self.steps if step.name == name)


def _steps(labspec: Labspec) -> list[PlanStep]:
    build, runtime = labspec.build, labspec.runtime
    commands = {
        "build_installer": build.installer,
        **{name: build.build_steps.get(name, []) for name in BUILD_STEP_NAMES},
        "runtime_installer": runtime.installer,
        "init": runtime.lab_actions.get("init", []),
        "start": runtime.lab_actions.get("start", []),
    }
    return [PlanStep(name=name, commands=list(commands[name])) for name in STEP_NAMES]


def _resolve_arch(labspec: Labspec, options: PlanOptions, warnings: list[str]) -> Arch:
    requested = labspec.runtime.platform.arch
    from_spec: Arch = "x86_64"
    if requested:
        from_spec, substituted = os_catalogue.normalise_arch(requested)
        if substituted:
            warnings.append(
                f"32-bit architecture {requested} is not offered; planned on {from_spec}"
            )
    if options.arch and options.arch != from_spec:
        warnings.append(
            f"architecture {options.arch} chosen by the request instead of "
            f"{requested or 'the default ' + from_spec} from the labspec"
        )
        return options.arch
    return from_spec


def make_plan(
    labspec: Labspec,
    options: PlanOptions | None = None,
    allowed_instance_types: Sequence[str] | None = None,
    today: date | None = None,
) -> DeploymentPlan:
    """Decide OS, image, instance type, volume, cost and steps; raise LabspecError if impossible."""
    options = options or PlanOptions()
    today = today or date.today()
    warnings = list(labspec.warnings)
    problems: list[FieldProblem] = []
    runtime = labspec.runtime

    resolution = None
    try:
        resolution = os_catalogue.resolve_os(
            runtime.platform.os, runtime.platform.os_version, options.os_policy, today
        )
        warnings.extend(resolution.notes)
    except LabspecError as exc:
        problems.extend(exc.problems)

    arch = _resolve_arch(labspec, options, warnings)
    choice = None
    try:
        choice = sizing.choose_instance_type(runtime.memory_min_mib, arch, allowed_instance_types)
        warnings.extend(choice.warnings)
    except LabspecError as exc:
        problems.extend(exc.problems)
    volume = None
    try:
        volume = sizing.root_volume_gib(runtime.storage_min_mib)
    except LabspecError as exc:
        problems.extend(exc.problems)
    if options.network_egress == "none":
        problems.extend(egress.internet_problems(egress.deploy_commands(labspec)))
    if problems or resolution is None or choice is None or volume is None:
        raise LabspecError(problems)

    if runtime.memory_min_mib is None:
        warnings.append(
            f"the labspec gives no memory.min_required; planned on the smallest allowed type "
            f"{choice.instance_type.name}"
        )
    storage = runtime.storage_min_mib
    if storage is not None and storage < volume * 1024 and volume == sizing.MIN_ROOT_VOLUME_GIB:
        warnings.append(
            f"storage.min_required {sizing.format_mib(storage)} is below the "
            f"{sizing.MIN_ROOT_VOLUME_GIB} GiB minimum root volume; planned {volume} GiB"
        )

    price = pricing.quote(choice.instance_type.name, options.region)
    if price.warning:
        warnings.append(price.warning)
    storage_prices = pricing.storage_prices()

    release = resolution.release
    plan = DeploymentPlan(
        lab_name=labspec.name,
        lab_slug=slugify(labspec.name),
        os=OsChoice(
            family=release.family,
            version=release.version,
            requested_family=resolution.requested_family,
            requested_version=resolution.requested_version,
            substituted=resolution.substituted,
            policy=options.os_policy,
            eol=release.eol,
            lts=release.lts,
        ),
        arch=arch,
        requested_arch=runtime.platform.arch,
        image=ImageRef(ssm_parameter=release.ssm_parameter(arch)),
        instance_type=choice.instance_type.name,
        fallback_instance_types=list(choice.fallbacks),
        memory_mib=choice.instance_type.memory_mib,
        requested_memory_mib=runtime.memory_min_mib,
        vcpus=choice.instance_type.vcpus,
        root_volume_gib=volume,
        region=options.region,
        hourly_cost_usd=price.hourly_cost_usd,
        price_source=price.source,
        storage_monthly_cost_usd=storage_prices.monthly_cost(volume, options.region),
        storage_price_source=storage_prices.source,
        steps=_steps(labspec),
        actions={name: list(commands) for name, commands in runtime.lab_actions.items()},
        health_probe=runtime.health_probe,
        timeouts=dict(runtime.timeouts),
        deadlines=dict(runtime.deadlines),
        access=options.access,
        lab_ports=list(runtime.ports),
        network_egress=options.network_egress,
        warnings=warnings,
    )
    if not labspec.roles:
        return plan
    return _with_cluster(plan, labspec, options, allowed_instance_types, today)


def _with_cluster(
    plan: DeploymentPlan,
    labspec: Labspec,
    options: PlanOptions,
    allowed_instance_types: Sequence[str] | None,
    today: date,
) -> DeploymentPlan:
    """The lab's own plan with its cluster: each role planned from its merged labspec."""
    role_plans: dict[str, dict] = {}
    problems: list[FieldProblem] = []
    for role in labspec.roles:
        try:
            role_plan = make_plan(role.labspec, options, allowed_instance_types, today)
        except LabspecError as exc:
            problems.extend(role_problem(role.name, problem) for problem in exc.problems)
            continue
        role_plans[role.name] = role_plan.model_dump(mode="json")
    if problems:
        raise LabspecError(problems)
    cluster = build_cluster(labspec.roles, role_plans)
    ports = [port for role in labspec.roles for port in role.ports]
    return plan.model_copy(
        update={
            "cluster": cluster,
            "hourly_cost_usd": cluster.hourly_cost_usd,
            "storage_monthly_cost_usd": cluster.storage_monthly_cost_usd,
            "lab_ports": list(dict.fromkeys(ports)),
        }
    )


def plan_from_labspec_source(
    source: str | bytes | dict,
    options: PlanOptions | None = None,
    allowed_instance_types: Sequence[str] | None = None,
    today: date | None = None,
) -> DeploymentPlan:
    """parse_labspec + make_plan: labspec text in, plan out (LabspecError on any problem)."""
    return make_plan(parse_labspec(source), options, allowed_instance_types, today)
