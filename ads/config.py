"""ADS configuration: one validated model, read from the environment once.

Logic receives an :class:`AdsConfig`; it never reads ``os.environ`` itself. The CDK
app sets these variables on every Lambda; the local control plane sets them for its
in-process handlers; tests build an ``AdsConfig`` directly or call :func:`reset_config`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ads.errors import ConfigError, FieldProblem

# Tags on every AWS resource ADS creates at run time (IAM conditions and sweeps use them).
LAB_ID_TAG = "ads:lab-id"
MANAGED_TAG = "ads:managed"
DEFAULT_AGENT_PORT = 9089
# The init budget (SSM's executionTimeout for the install script). The DeployLab ASL's
# Initialise VM retries are a fixed ceiling, tested to outlast the largest allowed value.
DEFAULT_INIT_TIMEOUT_S = 1800
MAX_INIT_TIMEOUT_S = 3600
# How long after RunInstances an InvalidInstanceID.NotFound still means "not visible
# yet" (EC2 is eventually consistent). The ASL retries are tested to outlast the maximum.
DEFAULT_LAUNCH_GRACE_S = 120
MAX_LAUNCH_GRACE_S = 300
# The deadlines of DeployLab's waits (ads/step_waits.py): how long a VM may take to
# run with its SSM agent online, and how long the install may take once sent (unset: the
# init budget plus SSM's 10 minutes of delivery). Past one the lab fails with "timed out
# after N s in <step>". Initialise VM waits for the command's status-change event; every
# init_poll_s without one it looks for itself (the safety net for a lost event).
DEFAULT_BOOT_DEADLINE_S = 600
MAX_BOOT_DEADLINE_S = 3600
INIT_DELIVERY_S = 600
MAX_INIT_DEADLINE_S = MAX_INIT_TIMEOUT_S + INIT_DELIVERY_S
DEFAULT_INIT_POLL_S = 300
MAX_INIT_POLL_S = 900
# The seconds each lab command (a deploy step's or an action's) may run unless the
# labspec's runtime_requirements.platform.timeouts names another; the agent's --timeout.
DEFAULT_COMMAND_TIMEOUT_S = 1800
# After a deploy that succeeded, how long install.sh waits for the lab's health probe to
# pass before it ends (a start step that launches a server in the background ends first).
DEFAULT_HEALTHY_WAIT_S = 30
MAX_HEALTHY_WAIT_S = 600
MAX_COMMAND_TIMEOUT_S = 7 * 24 * 3600
# The health watch (ads/health_watch.py): how often READY labs are checked, how many
# failed checks in a row make a lab DEGRADED, how long it may stay so before it is FAILED.
DEFAULT_WATCH_INTERVAL_S = 300
DEFAULT_WATCH_FAILURES = 3
DEFAULT_WATCH_DEADLINE_S = 1800
WatchRecovery = Literal["start", "restart", "none"]
WatchDeadlinePolicy = Literal["fail", "destroy"]
# The sweep (ads/sweep.py): how often it runs, and how old a VM or a stuck record must be
# before it is touched (a lab being created has its instance before its record names it:
# at least the create step's timeout plus the launch grace).
DEFAULT_SWEEP_INTERVAL_S = 3600
DEFAULT_SWEEP_GRACE_S = 900
DEFAULT_IMAGE_UNUSED_DAYS = 30
# How often the local plane deletes the labs table's expired items (ads/local/table_ttl.py).
DEFAULT_LOCAL_TTL_INTERVAL_S = 3600
MAX_IMAGE_UNUSED_DAYS = 3650
# How students reach a lab's application (see ads/providers/ec2_access.py).
LAB_ACCESS_MODES = ("private", "public", "load-balancer")
LabAccessMode = Literal["private", "public", "load-balancer"]


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


_INSTANCE_TYPE_POLICY = (
    'a JSON object of owner group ARN (or "*") to a list of instance types, e.g. '
    '{"arn:aws:iam::111122223333:role/students": ["t3.micro", "t3.small"]}'
)


def instance_type_policy(value: object) -> object:
    """ADS_QUOTA_INSTANCE_TYPES (JSON text) or a mapping as ((group, (types...)), ...)."""
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            raise ValueError(_INSTANCE_TYPE_POLICY) from None
    if isinstance(value, Mapping):
        if not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(t, str) for t in v)
            for k, v in value.items()
        ):
            raise ValueError(_INSTANCE_TYPE_POLICY)
        return tuple((k, tuple(v)) for k, v in value.items())
    return value


class AdsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str = "us-east-1"
    table_name: str = "ads-labs"
    deploy_state_machine_arn: str = ""
    destroy_state_machine_arn: str = ""
    power_state_machine_arn: str = ""
    action_state_machine_arn: str = ""
    # RedeployLab (update in place, ads.lab_updates).
    redeploy_state_machine_arn: str = ""
    # DeployCohort (a lab for every member of a class, ads.cohorts) and the most members
    # one cohort may have.
    cohort_state_machine_arn: str = ""
    cohort_max_members: int = Field(default=200, ge=1, le=1000)
    provider: Literal["ec2", "local"] = "ec2"
    # Empty means the catalogue's default list for the architecture.
    allowed_instance_types: tuple[str, ...] = ()
    default_os_policy: Literal["exact", "same-major", "nearest-lts"] = "nearest-lts"
    admin_principals: tuple[str, ...] = ()
    # ec2 provider
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    instance_profile_arn: str = ""
    agent_bundle_bucket: str = ""
    agent_bundle_key: str = ""
    agent_port: int = Field(default=DEFAULT_AGENT_PORT, ge=1, le=65535)
    command_timeout_s: int = Field(
        default=DEFAULT_COMMAND_TIMEOUT_S, ge=1, le=MAX_COMMAND_TIMEOUT_S
    )
    healthy_wait_s: int = Field(default=DEFAULT_HEALTHY_WAIT_S, ge=0, le=MAX_HEALTHY_WAIT_S)
    # whether lab VMs reach the internet: "nat" (the default network) or "none" (isolated
    # subnets with VPC endpoints only; the planner refuses labs that need the internet)
    network_egress: Literal["nat", "none"] = "nat"
    # CI events: the owner of the labs they request, and the accounts they may come from
    # (the event's `account`, set by EventBridge); empty means the CI role of the event's
    # account / any account (the local control plane)
    ci_owner_arn: str = ""
    ci_accounts: tuple[Annotated[str, Field(pattern=r"^\d{12}$")], ...] = ()
    init_timeout_s: int = Field(default=DEFAULT_INIT_TIMEOUT_S, ge=60, le=MAX_INIT_TIMEOUT_S)
    launch_grace_s: int = Field(default=DEFAULT_LAUNCH_GRACE_S, ge=0, le=MAX_LAUNCH_GRACE_S)
    boot_deadline_s: int = Field(default=DEFAULT_BOOT_DEADLINE_S, ge=1, le=MAX_BOOT_DEADLINE_S)
    init_deadline_s: int | None = Field(default=None, ge=1, le=MAX_INIT_DEADLINE_S)
    init_poll_s: int = Field(default=DEFAULT_INIT_POLL_S, ge=1, le=MAX_INIT_POLL_S)
    # lifecycle events (EventBridge); empty disables publishing
    event_bus_name: str = ""
    # the role that owns labs a CI event requested without an IAM ARN (IAM role name rules)
    ci_role_name: str = Field(default="ads-ci", pattern=r"^[A-Za-z0-9_+=,.@-]{1,64}$")
    # local provider
    local_root: str = ""
    local_python: str = ""
    # lab isolation (ads/providers/local_isolation.py): "auto" takes the strongest the host
    # offers, "namespaces" refuses to start a lab without its own uid and namespaces
    local_isolation: Literal["auto", "namespaces"] = "auto"
    # the uids given to labs, one each, when ADS runs as root: [base, base + count)
    local_uid_base: int = Field(default=200_000, ge=1000, le=4_000_000_000)
    local_uid_count: int = Field(default=65_536, ge=1, le=1_000_000)
    # directories a lab never sees (the control plane's state: ADS_HOME)
    local_private_paths: tuple[str, ...] = ()
    # directories from which local sources are read with ADS's own rights
    local_source_roots: tuple[str, ...] = ()
    health_timeout_s: float = Field(default=3.0, gt=0, le=30)
    # the health watch: the local plane's timer runs it every watch_interval_s when
    # watch_enabled (on AWS the schedule of the CDK app does); "start" recovers with the
    # labspec's start action (a restart when it defines none or its agent is silent)
    watch_enabled: bool = True
    watch_interval_s: int = Field(default=DEFAULT_WATCH_INTERVAL_S, ge=1, le=86_400)
    watch_failures: int = Field(default=DEFAULT_WATCH_FAILURES, ge=1, le=100)
    watch_deadline_s: int = Field(default=DEFAULT_WATCH_DEADLINE_S, ge=1, le=7 * 86_400)
    watch_recovery: WatchRecovery = "start"
    watch_on_deadline: WatchDeadlinePolicy = "fail"
    watch_concurrency: int = Field(default=8, ge=1, le=64)
    # the sweep: the local plane's timer runs it (report and apply) every sweep_interval_s
    # when sweep_enabled (on AWS the CDK app's schedule does); the api Lambda invokes
    # sweep_function_name for the admin route (empty: the sweep runs in the api itself)
    sweep_enabled: bool = True
    sweep_interval_s: int = Field(default=DEFAULT_SWEEP_INTERVAL_S, ge=1, le=7 * 86_400)
    sweep_grace_s: int = Field(default=DEFAULT_SWEEP_GRACE_S, ge=0, le=7 * 86_400)
    sweep_function_name: str = ""
    # the local plane deletes items whose DynamoDB TTL has passed every this many seconds
    # (ads.local.table_ttl; on AWS DynamoDB does)
    local_ttl_interval_s: int = Field(default=DEFAULT_LOCAL_TTL_INTERVAL_S, ge=1, le=86_400)
    # the sweep removes ADS's lab images no deploy started from for this many days (0: never)
    image_unused_days: int = Field(
        default=DEFAULT_IMAGE_UNUSED_DAYS, ge=0, le=MAX_IMAGE_UNUSED_DAYS
    )
    # lab access: private (SSM only), public (public IP + ingress), load-balancer (shared ALB)
    lab_access: LabAccessMode = "private"
    lab_ingress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    public_subnet_ids: tuple[str, ...] = ()
    vpc_id: str = ""
    lb_listener_arn: str = ""
    lb_security_group_id: str = ""
    lb_domain: str = ""
    lb_certificate_arn: str = ""
    # quotas (ads/quotas.py): None is no limit; admins are exempt unless given their own
    quota_max_labs: int | None = Field(default=None, ge=0, le=100_000)
    quota_max_hourly_usd: float | None = Field(default=None, ge=0)
    quota_admin_max_labs: int | None = Field(default=None, ge=0, le=100_000)
    quota_admin_max_hourly_usd: float | None = Field(default=None, ge=0)
    # owner group ARN (or a principal ARN, or "*") -> the instance types its labs may use
    quota_instance_types: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # leases (ads/leases.py): durations such as 30m, 4h, 2d; "none" as the default means
    # labs never expire unless asked; lease_min_s lets tests ask for leases of seconds
    lease_default: str = "8h"
    lease_max: str = "7d"
    lease_warning: str = "15m"
    lease_min_s: int = Field(default=60, ge=1, le=86_400)
    # EventBridge Scheduler (ads/lab_schedules.py): the group of the labs' schedules, the
    # role Scheduler assumes and the lab_timer function it invokes; empty: nothing fires
    schedule_group: str = ""
    scheduler_role_arn: str = ""
    lab_timer_function_arn: str = ""

    @property
    def init_deadline(self) -> int:
        """Seconds Initialise VM may take: ADS_INIT_DEADLINE_S, else the init budget plus
        SSM's delivery window (so a configured budget is spent before the deadline)."""
        if self.init_deadline_s is not None:
            return self.init_deadline_s
        return self.init_timeout_s + INIT_DELIVERY_S

    @field_validator("lease_default", "lease_max", "lease_warning")
    @classmethod
    def _duration(cls, value: str, info: Any) -> str:
        from ads.lease_terms import NO_EXPIRY, duration_seconds

        value = value.strip().lower()
        if not (value == NO_EXPIRY and info.field_name == "lease_default"):
            duration_seconds(value)
        return value

    @field_validator("quota_instance_types", mode="before")
    @classmethod
    def _instance_type_policy(cls, value: object) -> object:
        return instance_type_policy(value)

    @field_validator(
        "allowed_instance_types",
        "admin_principals",
        "subnet_ids",
        "security_group_ids",
        "ci_accounts",
        "lab_ingress_cidrs",
        "public_subnet_ids",
        "local_private_paths",
        "local_source_roots",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(_split(value))
        return value

    @field_validator("lab_ingress_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(
                    f"IPv4 or IPv6 networks such as 203.0.113.0/24 (not {cidr!r})"
                ) from None
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AdsConfig:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        mapping = {
            "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
            "table_name": ("ADS_TABLE_NAME",),
            "deploy_state_machine_arn": ("ADS_DEPLOY_STATE_MACHINE_ARN",),
            "destroy_state_machine_arn": ("ADS_DESTROY_STATE_MACHINE_ARN",),
            "power_state_machine_arn": ("ADS_POWER_STATE_MACHINE_ARN",),
            "action_state_machine_arn": ("ADS_ACTION_STATE_MACHINE_ARN",),
            "redeploy_state_machine_arn": ("ADS_REDEPLOY_STATE_MACHINE_ARN",),
            "cohort_state_machine_arn": ("ADS_COHORT_STATE_MACHINE_ARN",),
            "cohort_max_members": ("ADS_COHORT_MAX_MEMBERS",),
            "provider": ("ADS_PROVIDER",),
            "allowed_instance_types": ("ADS_ALLOWED_INSTANCE_TYPES",),
            "default_os_policy": ("ADS_DEFAULT_OS_POLICY",),
            "admin_principals": ("ADS_ADMIN_PRINCIPALS",),
            "subnet_ids": ("ADS_SUBNET_IDS",),
            "security_group_ids": ("ADS_SECURITY_GROUP_IDS",),
            "instance_profile_arn": ("ADS_INSTANCE_PROFILE_ARN",),
            "agent_bundle_bucket": ("ADS_AGENT_BUNDLE_BUCKET",),
            "agent_bundle_key": ("ADS_AGENT_BUNDLE_KEY",),
            "agent_port": ("ADS_AGENT_PORT",),
            "command_timeout_s": ("ADS_COMMAND_TIMEOUT_S",),
            "healthy_wait_s": ("ADS_HEALTHY_WAIT_S",),
            "network_egress": ("ADS_NETWORK_EGRESS",),
            "ci_owner_arn": ("ADS_CI_OWNER_ARN",),
            "ci_accounts": ("ADS_CI_ACCOUNTS",),
            "init_timeout_s": ("ADS_INIT_TIMEOUT_S",),
            "launch_grace_s": ("ADS_LAUNCH_GRACE_S",),
            "boot_deadline_s": ("ADS_BOOT_DEADLINE_S",),
            "init_deadline_s": ("ADS_INIT_DEADLINE_S",),
            "init_poll_s": ("ADS_INIT_POLL_S",),
            "event_bus_name": ("ADS_EVENT_BUS_NAME",),
            "ci_role_name": ("ADS_CI_ROLE_NAME",),
            "local_root": ("ADS_LOCAL_ROOT",),
            "local_python": ("ADS_LOCAL_PYTHON",),
            "local_isolation": ("ADS_LOCAL_ISOLATION",),
            "local_uid_base": ("ADS_LOCAL_UID_BASE",),
            "local_uid_count": ("ADS_LOCAL_UID_COUNT",),
            "local_private_paths": ("ADS_LOCAL_PRIVATE_PATHS",),
            "local_source_roots": ("ADS_LOCAL_SOURCE_ROOTS",),
            "health_timeout_s": ("ADS_HEALTH_TIMEOUT_S",),
            "watch_enabled": ("ADS_WATCH_ENABLED",),
            "watch_interval_s": ("ADS_WATCH_INTERVAL_S",),
            "watch_failures": ("ADS_WATCH_FAILURES",),
            "watch_deadline_s": ("ADS_WATCH_DEADLINE_S",),
            "watch_recovery": ("ADS_WATCH_RECOVERY",),
            "watch_on_deadline": ("ADS_WATCH_ON_DEADLINE",),
            "watch_concurrency": ("ADS_WATCH_CONCURRENCY",),
            "sweep_enabled": ("ADS_SWEEP_ENABLED",),
            "sweep_interval_s": ("ADS_SWEEP_INTERVAL_S",),
            "sweep_grace_s": ("ADS_SWEEP_GRACE_S",),
            "sweep_function_name": ("ADS_SWEEP_FUNCTION_NAME",),
            "local_ttl_interval_s": ("ADS_LOCAL_TTL_INTERVAL_S",),
            "image_unused_days": ("ADS_IMAGE_UNUSED_DAYS",),
            "lab_access": ("ADS_LAB_ACCESS",),
            "lab_ingress_cidrs": ("ADS_LAB_INGRESS_CIDRS",),
            "public_subnet_ids": ("ADS_PUBLIC_SUBNET_IDS",),
            "vpc_id": ("ADS_VPC_ID",),
            "lb_listener_arn": ("ADS_LB_LISTENER_ARN",),
            "lb_security_group_id": ("ADS_LB_SECURITY_GROUP_ID",),
            "lb_domain": ("ADS_LB_DOMAIN",),
            "lb_certificate_arn": ("ADS_LB_CERTIFICATE_ARN",),
            "quota_max_labs": ("ADS_QUOTA_MAX_LABS",),
            "quota_max_hourly_usd": ("ADS_QUOTA_MAX_HOURLY_USD",),
            "quota_admin_max_labs": ("ADS_QUOTA_ADMIN_MAX_LABS",),
            "quota_admin_max_hourly_usd": ("ADS_QUOTA_ADMIN_MAX_HOURLY_USD",),
            "quota_instance_types": ("ADS_QUOTA_INSTANCE_TYPES",),
            "lease_default": ("ADS_LEASE_DEFAULT",),
            "lease_max": ("ADS_LEASE_MAX",),
            "lease_warning": ("ADS_LEASE_WARNING",),
            "lease_min_s": ("ADS_LEASE_MIN_S",),
            "schedule_group": ("ADS_SCHEDULE_GROUP",),
            "scheduler_role_arn": ("ADS_SCHEDULER_ROLE_ARN",),
            "lab_timer_function_arn": ("ADS_LAB_TIMER_FUNCTION_ARN",),
        }
        source: dict[str, str] = {}
        for field_name, names in mapping.items():
            for name in names:
                if env.get(name):
                    values[field_name] = env[name]
                    source[field_name] = name
                    break
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            # Name the variable the operator set, not the model's field.
            problems = []
            for error in exc.errors():
                field_name = str(error["loc"][0]) if error["loc"] else ""
                problems.append(
                    FieldProblem(
                        source.get(field_name, field_name or "configuration"),
                        repr(values.get(field_name, error.get("input"))),
                        _allowed(error),
                    )
                )
            raise ConfigError(problems) from None


def _allowed(error: Any) -> str:
    """Pydantic's message rephrased as what is allowed ("Input should be X" -> "X")."""
    message = str(error.get("msg", "a valid value"))
    for lead in ("Input should be ", "Value error, "):
        if message.startswith(lead):
            return message[len(lead) :]
    return message


@lru_cache(maxsize=1)
def get_config() -> AdsConfig:
    """The process-wide configuration, read at cold start."""
    return AdsConfig.from_env()


def reset_config() -> None:
    """Forget the cached configuration (tests and the local control plane use this)."""
    get_config.cache_clear()
