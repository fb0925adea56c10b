"""Quotas: what one owner may hold at once, checked before anything is created.

Three quotas, each from the configuration (``ADS_QUOTA_*``, CDK context ``quota_*``):

- **labs per owner** (``quota_max_labs``): labs held at once. A lab is held from its
  request until it is DESTROYED or FAILED; a STOPPED lab is held too (it keeps its volume
  and may be started again at any time without asking the quota).
- **hourly spend per owner** (``quota_max_hourly_usd``): the sum of the held labs' hourly
  prices, each its plan's instance price plus its root volume's storage per hour. A
  STOPPED lab keeps its share for the same reason.
- **instance types per owner group** (``quota_instance_types``): which instance types the
  labs of a group (:func:`ads.identity.owner_group`; ``"*"`` for any other) may run on.

Admins (``ADS_ADMIN_PRINCIPALS``) are exempt unless ``quota_admin_max_labs`` or
``quota_admin_max_hourly_usd`` give them limits of their own. The counting itself, a
conditional write in the same transaction as the lab record, is :mod:`ads.quota_usage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ads import identity
from ads.config import AdsConfig
from ads.errors import AdsError
from ads.lab.cost import HOURS_PER_MONTH, storage_monthly_usd

LABS_QUOTA = "labs_per_owner"
SPEND_QUOTA = "hourly_spend_per_owner"
TYPES_QUOTA = "instance_types_per_owner_group"
ANY_GROUP = "*"


def is_admin(caller: str, config: AdsConfig) -> bool:
    # ads.deployment_context.is_admin's rule; imported from there it would be a cycle
    # (the repository counts quotas, and the context holds the repository).
    return any(identity.principal_matches(caller, p) for p in config.admin_principals)


# Hourly prices are kept to the micro-dollar: a release subtracts exactly what was added.
_PRECISION = Decimal("0.000001")


class QuotaExceededError(AdsError):
    """The request would take the owner over a quota (429: retry once a lab is gone)."""

    code = "quota_exceeded"
    http_status = 429

    def __init__(self, quota: str, *, owner: str, use: Any, limit: Any, requested: Any) -> None:
        what = "labs held at once" if quota == LABS_QUOTA else "USD per hour of held labs"
        super().__init__(
            f"quota {quota} exceeded for {owner}: {_shown(use)} {what} in use, this lab "
            f"asks {_shown(requested)} more, the limit is {_shown(limit)}; destroy a lab "
            "(or ask an admin for a higher limit) and request again",
            quota=quota,
            owner=owner,
            use=_number(use),
            requested=_number(requested),
            limit=_number(limit),
        )


class InstanceTypeNotAllowedError(AdsError):
    """The plan's instance type is not one the owner's group may run (403)."""

    code = "instance_type_not_allowed"
    http_status = 403

    def __init__(self, *, owner_group: str, instance_type: str, allowed: list[str]) -> None:
        super().__init__(
            f"quota {TYPES_QUOTA}: the plan needs instance type {instance_type}, which the "
            f"labs of {owner_group} may not use; allowed: {', '.join(allowed) or 'none'}",
            quota=TYPES_QUOTA,
            owner_group=owner_group,
            use=instance_type,
            limit=allowed,
        )


class SpendUncheckedError(AdsError):
    """A spend quota applies and the plan has no price to check it with (403)."""

    code = "quota_unpriced"
    http_status = 403

    def __init__(self, *, owner: str, instance_type: str, region: str, limit: float) -> None:
        super().__init__(
            f"quota {SPEND_QUOTA}: {instance_type} in {region} has no price in the bundled "
            f"table, so this lab cannot be counted against the limit of {limit} USD per hour; "
            "allowed: a region and instance type the price table covers",
            quota=SPEND_QUOTA,
            owner=owner,
            limit=limit,
        )


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _shown(value: Any) -> str:
    value = _number(value)
    return f"{value:.6g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class QuotaLimits:
    """One owner's limits (None: no limit). ``counted``: whether the owner's labs are
    counted at all (admins without limits of their own are not)."""

    max_labs: int | None = None
    max_hourly_usd: Decimal | None = None
    counted: bool = True


@dataclass(frozen=True)
class Usage:
    labs: int = 0
    hourly_usd: Decimal = Decimal(0)


def limits_for(caller: str, config: AdsConfig) -> QuotaLimits:
    """The limits of ``caller``. Everyone else is counted even without a limit, so that a
    quota configured later counts the labs already held."""
    if is_admin(caller, config):
        labs, spend = config.quota_admin_max_labs, config.quota_admin_max_hourly_usd
        return QuotaLimits(labs, _decimal(spend), counted=labs is not None or spend is not None)
    return QuotaLimits(config.quota_max_labs, _decimal(config.quota_max_hourly_usd))


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def lab_hourly_usd(plan: dict[str, Any]) -> Decimal | None:
    """What the lab costs per hour while it runs: instance plus root volume storage."""
    compute = plan.get("hourly_cost_usd")
    if compute is None:
        return None
    storage = storage_monthly_usd(plan) or 0.0
    hourly = Decimal(str(compute)) + Decimal(str(storage)) / HOURS_PER_MONTH
    return hourly.quantize(_PRECISION)


def allowed_instance_types(caller: str, config: AdsConfig) -> list[str] | None:
    """The instance types the caller's group may use (None: any the planner allows)."""
    if is_admin(caller, config) or not config.quota_instance_types:
        return None
    policy = dict(config.quota_instance_types)
    group = identity.owner_group(caller)
    for key in (caller, group, ANY_GROUP):
        if key in policy:
            return list(policy[key])
    return None


def checked_plan(plan: dict[str, Any], caller: str, config: AdsConfig) -> dict[str, Any]:
    """The plan if its instance type is allowed to the caller's group (fallback types it
    may not use are dropped); otherwise :class:`InstanceTypeNotAllowedError`. A lab of
    several VMs is checked VM by VM: each runs its role's plan, not the lab's own."""
    allowed = allowed_instance_types(caller, config)
    if allowed is None:
        return plan
    cluster = plan.get("cluster")
    if not (isinstance(cluster, dict) and cluster.get("vms")):
        return _allowed_plan(plan, caller, allowed)
    vms = [{**vm, "plan": _allowed_plan(vm["plan"], caller, allowed)} for vm in cluster["vms"]]
    fallbacks = [t for t in plan.get("fallback_instance_types") or [] if t in allowed]
    return {**plan, "fallback_instance_types": fallbacks, "cluster": {**cluster, "vms": vms}}


def _allowed_plan(plan: dict[str, Any], caller: str, allowed: list[str]) -> dict[str, Any]:
    instance_type = str(plan.get("instance_type") or "")
    if instance_type not in allowed:
        raise InstanceTypeNotAllowedError(
            owner_group=identity.owner_group(caller), instance_type=instance_type, allowed=allowed
        )
    fallbacks = [t for t in plan.get("fallback_instance_types") or [] if t in allowed]
    return {**plan, "fallback_instance_types": fallbacks}


def lab_share(plan: dict[str, Any], owner: str, limits: QuotaLimits) -> Decimal:
    """The hourly price this lab holds against the spend quota, checked on its own: a
    lab over the limit by itself is refused without a write."""
    hourly = lab_hourly_usd(plan)
    if limits.max_hourly_usd is None:
        return hourly if hourly is not None else Decimal(0)
    if hourly is None:
        raise SpendUncheckedError(
            owner=owner,
            instance_type=str(plan.get("instance_type") or "?"),
            region=str(plan.get("region") or "?"),
            limit=float(limits.max_hourly_usd),
        )
    if hourly > limits.max_hourly_usd:
        raise QuotaExceededError(
            SPEND_QUOTA, owner=owner, use=Decimal(0), limit=limits.max_hourly_usd, requested=hourly
        )
    return hourly


def exceeded(
    owner: str, limits: QuotaLimits, usage: Usage, hourly: Decimal, count: int = 1
) -> AdsError | None:
    """Which quota ``count`` new labs of ``hourly`` each (a cohort's: several at once)
    would exceed given ``usage``, if any."""
    if limits.max_labs is not None and usage.labs + count > limits.max_labs:
        return QuotaExceededError(
            LABS_QUOTA, owner=owner, use=usage.labs, limit=limits.max_labs, requested=count
        )
    total = hourly * count
    if limits.max_hourly_usd is not None and usage.hourly_usd + total > limits.max_hourly_usd:
        return QuotaExceededError(
            SPEND_QUOTA,
            owner=owner,
            use=usage.hourly_usd,
            limit=limits.max_hourly_usd,
            requested=total,
        )
    return None


def fits(
    owner: str, limits: QuotaLimits, usage: Usage, plan: dict[str, Any], count: int = 1
) -> dict[str, Any]:
    """Whether ``count`` labs of a plan fit the owner's quotas now (what ``ads plan`` shows;
    the request itself is checked again, atomically, when the labs are recorded)."""
    try:
        hourly = lab_share(plan, owner, limits)
        error = exceeded(owner, limits, usage, hourly, count)
    except AdsError as exc:
        error = exc
    answer: dict[str, Any] = {
        "fits": error is None,
        "labs_held": usage.labs,
        "max_labs": limits.max_labs,
        "hourly_usd_held": _number(usage.hourly_usd),
        "max_hourly_usd": _number(limits.max_hourly_usd),
    }
    if error is not None:
        answer["refusal"] = error.to_dict()
    return answer
