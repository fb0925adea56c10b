"""What a lab costs in its current status, from its plan and the bundled prices.

A running lab pays for its instance and its root volume; a STOPPED one for the volume
only (EC2 bills no compute for a stopped instance, EBS bills provisioned storage until
the volume is deleted); a DESTROYED one for nothing. The API answers this with a lab's
record (``cost``) and ``ads show`` prints its summary, so both say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from ads.lab import pricing

HOURS_PER_MONTH = 730


class LabCost(BaseModel):
    """A lab's cost in its status (USD; None where the bundled prices have no figure)."""

    status: str
    compute_hourly_usd: float | None = Field(description="0 while the lab is STOPPED")
    storage_monthly_usd: float | None = Field(description="the root volume's storage")
    monthly_usd: float | None = Field(description="per month if the lab stays in this status")
    summary: str


def storage_monthly_usd(plan: Mapping[str, Any]) -> float | None:
    """The root volume's monthly price: the plan's own, or (older plans) from the table."""
    if plan.get("storage_monthly_cost_usd") is not None:
        return float(plan["storage_monthly_cost_usd"])
    volume, region = plan.get("root_volume_gib"), plan.get("region")
    if not isinstance(volume, int) or not isinstance(region, str):
        return None
    return pricing.storage_prices().monthly_cost(volume, region)


def _storage_phrase(plan: Mapping[str, Any], storage: float | None) -> str:
    volume = plan.get("root_volume_gib", "?")
    region = plan.get("region", "?")
    source = plan.get("storage_price_source") or pricing.storage_prices().source
    if storage is None:
        return f"the {volume} GiB root volume's storage is not priced in {region} ({source})"
    return f"${storage:.2f} per month for the {volume} GiB root volume in {region} ({source})"


def lab_cost(plan: Mapping[str, Any], status: str) -> LabCost:
    storage = storage_monthly_usd(plan)
    if status == "DESTROYED":
        return LabCost(
            status=status,
            compute_hourly_usd=0.0,
            storage_monthly_usd=0.0,
            monthly_usd=0.0,
            summary="destroyed: no instance and no volume are billed",
        )
    if status == "STOPPED":
        return LabCost(
            status=status,
            compute_hourly_usd=0.0,
            storage_monthly_usd=storage,
            monthly_usd=storage,
            summary=f"stopped: no compute is billed; storage {_storage_phrase(plan, storage)}",
        )
    hourly = plan.get("hourly_cost_usd")
    compute = float(hourly) if hourly is not None else None
    monthly = (
        round(compute * HOURS_PER_MONTH + storage, 2)
        if compute is not None and storage is not None
        else None
    )
    price = f"${compute:.4f}" if compute is not None else "at an unknown price"
    return LabCost(
        status=status,
        compute_hourly_usd=compute,
        storage_monthly_usd=storage,
        monthly_usd=monthly,
        summary=f"compute {price} per hour, plus storage {_storage_phrase(plan, storage)}",
    )
