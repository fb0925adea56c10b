"""What kept lab images cost: their snapshots' storage, per image and per owner.

An image's item records what its snapshots cost a month (``storage_monthly_cost_usd``,
set when the image became available: the snapshots' size at the bundled EBS snapshot
price; local images cost nothing and carry none). Its storage accrues from
``available_at`` until now, or from ``since`` when that is later, at that monthly price
/ 730 hours, the way a lab's root volume accrues (:mod:`ads.lab.accrual`). A removed
image's item is forgotten with it (:mod:`ads.image_requests`), so its cost leaves the
report then, as a lab's does once its record's TTL passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field

from ads import identity
from ads.lab.accrual import parse_time
from ads.lab.cost import HOURS_PER_MONTH
from ads.lab_images import LabImage

# An image whose snapshots exist or existed: made (available), being removed (deleting),
# removed (what it cost until then).
STORED_STATES = frozenset({"available", "deleting", "removed"})


class ImageCostLine(BaseModel):
    image_id: str
    owner: str
    lab_name: str = ""
    provider: str
    provider_image_id: str | None = None
    snapshot_ids: list[str] = Field(default_factory=list)
    available_at: str
    hours_kept: float
    storage_monthly_cost_usd: float | None = None
    storage_usd: float | None = Field(
        default=None, description="the snapshots' storage so far; None where it has no price"
    )
    removed_at: str | None = Field(
        default=None, description="when the image and its snapshots were removed, if they were"
    )


def image_line(image: LabImage, now: datetime, since: datetime | None = None) -> ImageCostLine:
    available_at = image.available_at or image.created_at
    start = parse_time(available_at)
    if since is not None and since > start:
        start = since
    end = parse_time(image.removed_at) if image.removed_at else now
    hours = max((min(end, now) - start).total_seconds(), 0.0) / 3600
    monthly = image.storage_monthly_cost_usd
    return ImageCostLine(
        image_id=image.image_id,
        owner=image.image_owner,
        lab_name=image.lab_name,
        provider=image.provider,
        provider_image_id=image.provider_image_id,
        snapshot_ids=image.snapshot_ids,
        available_at=available_at,
        hours_kept=round(hours, 4),
        removed_at=image.removed_at,
        storage_monthly_cost_usd=monthly,
        storage_usd=round(hours * monthly / HOURS_PER_MONTH, 4) if monthly is not None else None,
    )


def image_lines(
    images: Iterable[LabImage],
    *,
    owner: str | None,
    now: datetime,
    since: datetime | None = None,
) -> list[ImageCostLine]:
    """The stored images (``owner``'s only, unless None: every owner's), each with what it
    cost in the window; an image kept only before ``since`` is left out. Newest first."""
    lines = [
        image_line(image, now, since)
        for image in images
        if image.image_state in STORED_STATES
        and image.available_at
        and (owner is None or identity.principal_matches(owner, image.image_owner))
    ]
    return [line for line in lines if line.hours_kept > 0 or since is None]
