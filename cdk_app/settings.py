"""The deployment settings of the CDK app, read once from CDK context.

Context arrives from two places with different types: `cdk.json` gives JSON values
(lists, booleans, numbers) and `cdk synth -c key=value` gives strings. Both are
accepted here, and a bad value is reported with the key, what was found and what is
allowed, so the app can print one line instead of a traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_logs as logs

from ads.config import (
    DEFAULT_BOOT_DEADLINE_S,
    DEFAULT_COMMAND_TIMEOUT_S,
    DEFAULT_HEALTHY_WAIT_S,
    DEFAULT_IMAGE_UNUSED_DAYS,
    DEFAULT_INIT_POLL_S,
    DEFAULT_INIT_TIMEOUT_S,
    DEFAULT_LAUNCH_GRACE_S,
    MAX_BOOT_DEADLINE_S,
    MAX_COMMAND_TIMEOUT_S,
    MAX_HEALTHY_WAIT_S,
    MAX_IMAGE_UNUSED_DAYS,
    MAX_INIT_DEADLINE_S,
    MAX_INIT_POLL_S,
    MAX_INIT_TIMEOUT_S,
    MAX_LAUNCH_GRACE_S,
)
from cdk_app import context_values as read
from cdk_app.context_values import ContextError

OS_POLICIES = ("exact", "same-major", "nearest-lts")
# nat: lab subnets reach the internet through one NAT gateway (apt, pip, git work);
# none: isolated subnets with VPC endpoints for SSM and S3 only (cheaper, locked down).
NETWORK_EGRESS = ("nat", "none")
# Context keys that network_egress replaced: each old value and what to write instead.
_REPLACED_KEYS = {
    "create_nat": "network_egress (create_nat true is network_egress nat, false is none)",
    "subnet_type": "network_egress (with vpc_id: private_with_egress subnets are network_egress "
    "nat, private_isolated subnets are none)",
}
# The retention periods CloudWatch Logs accepts (and CDK names), in days.
_RETENTION = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
    2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip
LOG_RETENTION_DAYS = tuple(_RETENTION)

_NAME_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_BUS_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z0-9+=,.@_/:-]+$")
# What aws:PrincipalArn names for a caller: a role (for every session of it) or a user.
_CI_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
# How students reach a lab (ADS_LAB_ACCESS); see cdk_app/access_construct.py.
LAB_ACCESS_MODES = ("private", "public", "load-balancer")
_CIDR = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}/\d{1,2}|[0-9a-fA-F:]+/\d{1,3})$")
_DOMAIN = re.compile(r"^(?=.{4,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")


@dataclass(frozen=True)
class Settings:
    name_prefix: str = "ads"
    region: str = ""
    vpc_id: str = ""
    network_egress: str = "nat"
    subnet_ids: tuple[str, ...] = ()
    # Who may put CI deployment requests on the CI bus; empty means the stack's CI role.
    ci_principals: tuple[str, ...] = ()
    allowed_instance_types: tuple[str, ...] = ()
    admin_principals: tuple[str, ...] = ()
    default_os_policy: str = "nearest-lts"
    deletion_protection: bool = True
    lifecycle_bus_name: str = "ads-lifecycle"
    log_retention_days: int = 30
    api_throttling_rate_limit: int = 10
    api_throttling_burst_limit: int = 20
    lab_source_buckets: tuple[str, ...] = ()
    alarm_emails: tuple[str, ...] = ()
    lab_access: str = "private"
    # Who may reach labs in the public and load-balancer modes; empty means anywhere.
    lab_ingress_cidrs: tuple[str, ...] = ()
    lb_domain: str = ""
    lb_certificate_arn: str = ""
    # The init budget (ADS_INIT_TIMEOUT_S) and the EC2 launch grace (ADS_LAUNCH_GRACE_S).
    init_timeout_s: int = DEFAULT_INIT_TIMEOUT_S
    launch_grace_s: int = DEFAULT_LAUNCH_GRACE_S
    # The deadlines of DeployLab's waits and Await Init's safety-net interval
    # (ADS_BOOT_DEADLINE_S, ADS_INIT_DEADLINE_S, ADS_INIT_POLL_S; see ads/step_waits.py).
    # init_deadline_s 0: the init budget plus SSM's delivery window.
    boot_deadline_s: int = DEFAULT_BOOT_DEADLINE_S
    init_deadline_s: int = 0
    init_poll_s: int = DEFAULT_INIT_POLL_S
    # Seconds per lab command unless the labspec's timeouts say (ADS_COMMAND_TIMEOUT_S).
    command_timeout_s: int = DEFAULT_COMMAND_TIMEOUT_S
    # How long the install waits for the lab's health probe after its deploy (ADS_HEALTHY_WAIT_S).
    healthy_wait_s: int = DEFAULT_HEALTHY_WAIT_S
    # The health watch (cdk_app/watch_construct.py; ADS_WATCH_* on its Lambda).
    watch_enabled: bool = True
    watch_interval_minutes: int = 5
    watch_failures: int = 3
    watch_deadline_minutes: int = 30
    watch_recovery: str = "start"
    watch_on_deadline: str = "fail"
    # The sweep (cdk_app/sweep_construct.py; ADS_SWEEP_* on its Lambda): its schedule, and
    # how old a VM or a stuck record must be before it is touched.
    sweep_enabled: bool = True
    sweep_interval_minutes: int = 60
    sweep_grace_minutes: int = 15
    # Days a lab image may go unused before the sweep removes it (ADS_IMAGE_UNUSED_DAYS;
    # 0 keeps images until they are removed by hand).
    image_unused_days: int = DEFAULT_IMAGE_UNUSED_DAYS
    # Quotas (ads/quotas.py; ADS_QUOTA_* on the api and CI trigger Lambdas): None is no
    # limit; admins are exempt unless quota_admin_* give them their own.
    quota_max_labs: int | None = None
    quota_max_hourly_usd: float | None = None
    quota_admin_max_labs: int | None = None
    quota_admin_max_hourly_usd: float | None = None
    # owner group ARN (or "*") -> the instance types its labs may use
    quota_instance_types: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Leases (cdk_app/lease_construct.py; ADS_LEASE_* on the Lambdas that request labs):
    # durations such as 30m, 4h, 2d; lease_default may be "none" (labs never expire).
    lease_default: str = "8h"
    lease_max: str = "7d"
    lease_warning: str = "15m"
    # The most members one cohort may have (ads/cohort_members.py; ADS_COHORT_MAX_MEMBERS
    # on the Lambdas that request labs, checked by ads.config from 1 to 1000).
    cohort_max_members: int = 200

    def lease_environment(self) -> dict[str, str]:
        return {
            "ADS_LEASE_DEFAULT": self.lease_default,
            "ADS_LEASE_MAX": self.lease_max,
            "ADS_LEASE_WARNING": self.lease_warning,
        }

    def cohort_environment(self) -> dict[str, str]:
        return {"ADS_COHORT_MAX_MEMBERS": str(self.cohort_max_members)}

    def quota_environment(self) -> dict[str, str]:
        """The ADS_QUOTA_* variables of the Lambdas that request labs (unset: no limit)."""
        values = {
            "ADS_QUOTA_MAX_LABS": self.quota_max_labs,
            "ADS_QUOTA_MAX_HOURLY_USD": self.quota_max_hourly_usd,
            "ADS_QUOTA_ADMIN_MAX_LABS": self.quota_admin_max_labs,
            "ADS_QUOTA_ADMIN_MAX_HOURLY_USD": self.quota_admin_max_hourly_usd,
        }
        environment = {name: str(value) for name, value in values.items() if value is not None}
        if self.quota_instance_types:
            environment["ADS_QUOTA_INSTANCE_TYPES"] = json.dumps(
                {group: list(types) for group, types in self.quota_instance_types},
                separators=(",", ":"),
            )
        return environment

    @property
    def log_retention(self) -> logs.RetentionDays:
        return logs.RetentionDays[_RETENTION[self.log_retention_days]]

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> Settings:
        """Build settings from a context getter such as ``node.try_get_context``."""
        defaults = cls()
        for key, replacement in _REPLACED_KEYS.items():
            if not read.missing(get(key)):
                raise ContextError(key, get(key), f"nothing: the key is replaced by {replacement}")
        settings = cls(
            name_prefix=read.text(
                get,
                "name_prefix",
                defaults.name_prefix,
                _NAME_PREFIX,
                "lowercase letters, digits and hyphens, starting with a letter, at most 20 characters",
            ),
            region=read.text(
                get,
                "region",
                "",
                _REGION,
                "an AWS region such as eu-west-1, or empty for the CLI's region",
            ),
            vpc_id=read.text(
                get,
                "vpc_id",
                "",
                _VPC_ID,
                "an existing VPC id such as vpc-0abc12345def67890, or empty for a new VPC",
            ),
            network_egress=read.choice(
                get, "network_egress", defaults.network_egress, NETWORK_EGRESS
            ),
            subnet_ids=read.text_list(
                get, "subnet_ids", _SUBNET_ID, "subnet ids such as subnet-0abc12345def67890"
            ),
            ci_principals=read.text_list(
                get,
                "ci_principals",
                _CI_PRINCIPAL_ARN,
                "IAM role or user ARNs such as arn:aws:iam::123456789012:role/release-pipeline "
                "(a role admits every session of it)",
            ),
            allowed_instance_types=read.text_list(
                get, "allowed_instance_types", _INSTANCE_TYPE, "EC2 instance types such as t3.micro"
            ),
            admin_principals=read.text_list(
                get, "admin_principals", _PRINCIPAL_ARN, "IAM role, user or assumed-role ARNs"
            ),
            default_os_policy=read.choice(
                get, "default_os_policy", defaults.default_os_policy, OS_POLICIES
            ),
            deletion_protection=read.flag(get, "deletion_protection", defaults.deletion_protection),
            lifecycle_bus_name=read.text(
                get,
                "lifecycle_bus_name",
                defaults.lifecycle_bus_name,
                _BUS_NAME,
                "1 to 256 letters, digits, '.', '_' or '-' (not 'default')",
            ),
            log_retention_days=read.number(
                get, "log_retention_days", defaults.log_retention_days, LOG_RETENTION_DAYS
            ),
            api_throttling_rate_limit=read.positive(
                get, "api_throttling_rate_limit", defaults.api_throttling_rate_limit
            ),
            lab_source_buckets=read.text_list(
                get, "lab_source_buckets", _BUCKET, "S3 bucket names such as my-lab-sources"
            ),
            api_throttling_burst_limit=read.positive(
                get, "api_throttling_burst_limit", defaults.api_throttling_burst_limit
            ),
            alarm_emails=read.text_list(
                get, "alarm_emails", _EMAIL, "e-mail addresses such as ops@example.org"
            ),
            lab_access=read.choice(get, "lab_access", defaults.lab_access, LAB_ACCESS_MODES),
            lab_ingress_cidrs=read.text_list(
                get, "lab_ingress_cidrs", _CIDR, "CIDR blocks such as 203.0.113.0/24"
            ),
            lb_domain=read.text(
                get,
                "lb_domain",
                "",
                _DOMAIN,
                "a lowercase DNS domain such as labs.example.org (labs answer at <lab_id>.<domain>)",
            ),
            lb_certificate_arn=read.text(
                get,
                "lb_certificate_arn",
                "",
                _CERTIFICATE_ARN,
                "an ACM certificate ARN for *.<lb_domain> in the stack's region",
            ),
            init_timeout_s=read.bounded(
                get, "init_timeout_s", defaults.init_timeout_s, 60, MAX_INIT_TIMEOUT_S
            ),
            launch_grace_s=read.bounded(
                get, "launch_grace_s", defaults.launch_grace_s, 0, MAX_LAUNCH_GRACE_S
            ),
            command_timeout_s=read.bounded(
                get, "command_timeout_s", defaults.command_timeout_s, 1, MAX_COMMAND_TIMEOUT_S
            ),
            healthy_wait_s=read.bounded(
                get, "healthy_wait_s", defaults.healthy_wait_s, 0, MAX_HEALTHY_WAIT_S
            ),
            boot_deadline_s=read.bounded(
                get, "boot_deadline_s", defaults.boot_deadline_s, 1, MAX_BOOT_DEADLINE_S
            ),
            init_deadline_s=read.bounded(
                get, "init_deadline_s", defaults.init_deadline_s, 0, MAX_INIT_DEADLINE_S
            ),
            init_poll_s=read.bounded(get, "init_poll_s", defaults.init_poll_s, 1, MAX_INIT_POLL_S),
            watch_enabled=read.flag(get, "watch_enabled", defaults.watch_enabled),
            watch_interval_minutes=read.bounded(
                get, "watch_interval_minutes", defaults.watch_interval_minutes, 1, 1440, "minutes"
            ),
            watch_failures=read.bounded(
                get, "watch_failures", defaults.watch_failures, 1, 100, "failed checks"
            ),
            watch_deadline_minutes=read.bounded(
                get,
                "watch_deadline_minutes",
                defaults.watch_deadline_minutes,
                1,
                7 * 1440,
                "minutes",
            ),
            watch_recovery=read.choice(
                get, "watch_recovery", defaults.watch_recovery, ("start", "restart", "none")
            ),
            watch_on_deadline=read.choice(
                get, "watch_on_deadline", defaults.watch_on_deadline, ("fail", "destroy")
            ),
            sweep_enabled=read.flag(get, "sweep_enabled", defaults.sweep_enabled),
            sweep_interval_minutes=read.bounded(
                get,
                "sweep_interval_minutes",
                defaults.sweep_interval_minutes,
                1,
                7 * 1440,
                "minutes",
            ),
            sweep_grace_minutes=read.bounded(
                get, "sweep_grace_minutes", defaults.sweep_grace_minutes, 1, 7 * 1440, "minutes"
            ),
            image_unused_days=read.bounded(
                get,
                "image_unused_days",
                defaults.image_unused_days,
                0,
                MAX_IMAGE_UNUSED_DAYS,
                "days",
            ),
            quota_max_labs=read.limit(get, "quota_max_labs", whole=True),
            quota_max_hourly_usd=read.limit(get, "quota_max_hourly_usd", whole=False),
            quota_admin_max_labs=read.limit(get, "quota_admin_max_labs", whole=True),
            quota_admin_max_hourly_usd=read.limit(get, "quota_admin_max_hourly_usd", whole=False),
            quota_instance_types=_instance_type_policy(get, "quota_instance_types"),
            lease_default=read.duration(get, "lease_default", defaults.lease_default, none=True),
            lease_max=read.duration(get, "lease_max", defaults.lease_max),
            lease_warning=read.duration(get, "lease_warning", defaults.lease_warning),
            cohort_max_members=read.members(get, "cohort_max_members", defaults.cohort_max_members),
        )
        _check_lab_access(settings)
        if settings.lifecycle_bus_name == "default":
            raise ContextError(
                "lifecycle_bus_name",
                "default",
                "a custom bus name; lifecycle events stay off the default bus",
            )
        if settings.subnet_ids and not settings.vpc_id:
            raise ContextError(
                "subnet_ids", list(settings.subnet_ids), "subnet ids only together with vpc_id"
            )
        return settings

    @classmethod
    def from_mapping(cls, context: Mapping[str, Any]) -> Settings:
        return cls.from_context(context.get)


_INSTANCE_TYPE_GROUPS = (
    'an object of owner group ARN (a role or user ARN, or "*") to a list of instance types, '
    'e.g. {"arn:aws:iam::123456789012:role/students": ["t3.micro", "t3.small"]}'
)


def _instance_type_policy(
    get: Callable[[str], Any], key: str
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    value = get(key)
    if read.missing(value):
        return ()
    if isinstance(value, str):  # `-c quota_instance_types='{"*": [...]}'`
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ContextError(key, value, _INSTANCE_TYPE_GROUPS) from None
    if not isinstance(value, Mapping):
        raise ContextError(key, value, _INSTANCE_TYPE_GROUPS)
    policy: list[tuple[str, tuple[str, ...]]] = []
    for group, types in value.items():
        if group != "*" and not _PRINCIPAL_ARN.match(str(group)):
            raise ContextError(key, group, _INSTANCE_TYPE_GROUPS)
        if not isinstance(types, list) or not all(
            isinstance(t, str) and _INSTANCE_TYPE.match(t) for t in types
        ):
            raise ContextError(key, types, "a list of EC2 instance types such as t3.micro")
        policy.append((str(group), tuple(types)))
    return tuple(policy)


def _check_lab_access(settings: Settings) -> None:
    if settings.lab_access != "load-balancer":
        return
    for key in ("lb_domain", "lb_certificate_arn"):
        if not getattr(settings, key):
            raise ContextError(
                key,
                "",
                "a value when lab_access is load-balancer (the ALB's HTTPS listener serves "
                "<lab_id>.<lb_domain> with the certificate lb_certificate_arn)",
            )
