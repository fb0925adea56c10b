"""``GET /costs`` and ``ads cost``: what labs have cost so far, per lab and per owner.

Each lab's figure is derived from its record (:mod:`ads.lab.accrual`: its status
history and its plan's prices), so nothing is written to keep it. The labs are read one
bounded page at a time through the owner index (an owner's own labs, or the owner an
admin names); only an admin asking for every owner reads the table by scan, as the admin
listing of ``GET /labs`` does. The per-owner totals cover the labs of the answer: a
client that wants them all follows ``next_token`` (``ads cost`` does) and adds them up.
The kept lab images' snapshot storage (:mod:`ads.image_costs`) comes on the first page
only (images are few and read whole), counted in its owner's sums.
Records of destroyed labs stay 90 days (the table's TTL), so older costs are gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ads import identity
from ads.deployment_context import DeploymentContext, is_admin, require_caller
from ads.errors import AdsError, FieldProblem, InvalidInputError
from ads.image_costs import ImageCostLine, image_lines
from ads.lab.accrual import Accrual, accrued, parse_time
from ads.lab_record import LabRecord, iso, utc_now
from ads.source_checks import found

MAX_COST_PAGE = 100


class CostsForbiddenError(AdsError):
    code = "forbidden"
    http_status = 403


class LabCostLine(Accrual):
    lab_id: str
    lab_name: str = ""
    owner: str
    status: str
    course: str | None = None


class OwnerCostLine(BaseModel):
    owner: str
    labs: int
    hours_running: float
    hours_stopped: float
    compute_usd: float
    storage_usd: float
    total_usd: float
    unpriced_labs: int = Field(
        default=0, description="labs whose plan has no price (left out of the sums)"
    )
    images: int = Field(default=0, description="lab images kept (their storage is in total_usd)")
    image_storage_usd: float = Field(default=0, description="the images' snapshot storage")


class CostReport(BaseModel):
    """Answer of ``GET /costs``."""

    as_of: str = Field(description="the time the costs were computed up to")
    since: str | None = Field(default=None, description="the costs count from this time")
    labs: list[LabCostLine]
    images: list[ImageCostLine] = Field(
        default_factory=list,
        description="kept lab images with their snapshot storage (first page only)",
    )
    owners: list[OwnerCostLine] = Field(
        description="the labs and images of this answer summed per owner"
    )
    next_token: str | None = None


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise InvalidInputError(
            FieldProblem(
                "since",
                found(value),
                "an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T08:00:00Z",
            ),
            subject="query",
        ) from None


def _records(
    ctx: DeploymentContext, caller: str, owner: str | None, limit: int, next_token: str | None
) -> tuple[list[LabRecord], str | None]:
    admin = is_admin(caller, ctx.config)
    if owner and not admin and not identity.principal_matches(caller, owner):
        raise CostsForbiddenError(
            f"owner: found {found(owner)}; only admins may read the costs of other owners "
            "(allowed: your own ARN, or no owner)",
            owner=owner,
        )
    if admin and not owner:
        return ctx.repository.list_all(limit=limit, next_token=next_token)
    return ctx.repository.list_for_owner(owner or caller, limit=limit, next_token=next_token)


def _owner_line(owners: dict[str, OwnerCostLine], owner: str) -> OwnerCostLine:
    return owners.setdefault(
        owner,
        OwnerCostLine(
            owner=owner,
            labs=0,
            hours_running=0,
            hours_stopped=0,
            compute_usd=0,
            storage_usd=0,
            total_usd=0,
        ),
    )


def sum_per_owner(
    lines: list[LabCostLine], images: list[ImageCostLine] | None = None
) -> list[OwnerCostLine]:
    """The lines and the images summed per owner (unpriced labs counted apart), owners
    sorted."""
    owners: dict[str, OwnerCostLine] = {}
    for image in images or []:
        total = _owner_line(owners, image.owner)
        total.images += 1
        total.image_storage_usd = round(total.image_storage_usd + (image.storage_usd or 0), 4)
        total.total_usd = round(total.total_usd + (image.storage_usd or 0), 4)
    for line in lines:
        total = _owner_line(owners, line.owner)
        total.labs += 1
        total.hours_running = round(total.hours_running + line.hours_running, 4)
        total.hours_stopped = round(total.hours_stopped + line.hours_stopped, 4)
        if line.total_usd is None:
            total.unpriced_labs += 1
            continue
        total.compute_usd = round(total.compute_usd + (line.compute_usd or 0), 4)
        total.storage_usd = round(total.storage_usd + (line.storage_usd or 0), 4)
        total.total_usd = round(total.total_usd + line.total_usd, 4)
    return [owners[name] for name in sorted(owners)]


def lab_line(record: LabRecord, now: datetime, since: datetime | None = None) -> LabCostLine:
    history = [(change.status.value, change.at) for change in record.status_history]
    cost = accrued(record.plan, history, now, since)
    return LabCostLine(
        lab_id=record.lab_id,
        lab_name=record.lab_name,
        owner=record.owner,
        status=record.status.value,
        course=record.course,
        **cost.model_dump(),
    )


def cost_report(
    ctx: DeploymentContext,
    *,
    caller: str,
    owner: str | None = None,
    since: str | None = None,
    limit: int = MAX_COST_PAGE,
    next_token: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One page of the labs the caller may see (their own; an admin any owner's or all),
    each with what it cost since ``since``, and the page's sums per owner."""
    require_caller(caller)
    if not 1 <= limit <= MAX_COST_PAGE:
        raise InvalidInputError(
            FieldProblem("limit", str(limit), f"an integer from 1 to {MAX_COST_PAGE}"),
            subject="query",
        )
    start = _since(since)
    moment = now or utc_now()
    records, token = _records(ctx, caller, owner, limit, next_token)
    lines = [lab_line(r, moment, start) for r in records]
    if start is not None:
        # A lab that ended before ``since`` cost nothing in the window: left out.
        lines = [line for line in lines if line.hours_running or line.hours_stopped]
    images: list[ImageCostLine] = []
    if next_token is None:
        everyone = is_admin(caller, ctx.config) and not owner
        images = image_lines(
            ctx.repository.images.list(removed=True),
            owner=None if everyone else owner or caller,
            now=moment,
            since=start,
        )
    return CostReport(
        as_of=iso(moment),
        since=iso(start) if start else None,
        labs=lines,
        images=images,
        owners=sum_per_owner(lines, images),
        next_token=token,
    ).model_dump(mode="json")
