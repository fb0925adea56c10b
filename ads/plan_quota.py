"""Whether a planned lab fits its requester's quotas now: what ``POST /plans`` adds to the
plan as ``quota`` (one read of the owner's usage item; nothing is written).

It is a preview: the request itself is checked again, atomically, when the lab is
recorded (:mod:`ads.quota_usage`), so a lab that fits here may still be refused if
another request takes the last place first.
"""

from __future__ import annotations

from typing import Any

from ads import quotas
from ads.deployment_context import DeploymentContext


def plan_quota(ctx: DeploymentContext, plan: dict[str, Any], caller: str) -> dict[str, Any] | None:
    """``{fits, labs_held, max_labs, hourly_usd_held, max_hourly_usd, refusal?}`` for the
    caller, or None when no quota applies to them (no limits, or an exempt admin)."""
    config = ctx.config
    if not caller:
        return None
    limits = quotas.limits_for(caller, config)
    has_limits = limits.max_labs is not None or limits.max_hourly_usd is not None
    if not has_limits and quotas.allowed_instance_types(caller, config) is None:
        return None
    usage = ctx.repository.quota_usage.usage(caller) if limits.counted else quotas.Usage()
    try:
        checked = quotas.checked_plan(plan, caller, config)
    except quotas.InstanceTypeNotAllowedError as exc:
        return {**quotas.fits(caller, limits, usage, plan), "fits": False, "refusal": exc.to_dict()}
    return quotas.fits(caller, limits, usage, checked)
