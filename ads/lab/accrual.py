"""What a lab has cost so far, from its status history and its plan's prices.

The status history is the lab's billing record: every change carries its time. Between
two changes the lab is in one of three billing states:

- **running** (compute and storage billed): from PROVISIONING (the instance is launched
  during it) through READY, the power and action statuses and any other status with a
  VM up;
- **stopped** (storage only): STOPPED, since EC2 bills no compute for a stopped instance
  and EBS bills the volume until it is deleted;
- **none**: REQUESTED (no VM yet), FAILED (its VM was destroyed), DESTROYED.

DESTROYING keeps the billing state it was entered from (a running lab runs until it is
terminated, a stopped one stays stopped, a FAILED one has nothing left). Compute is
running hours x the plan's hourly price; storage is (running + stopped) hours x the
root volume's monthly price / 730. Figures are list prices of the bundled table, not the
bill. ``now`` and ``since`` are given by the caller, so tests need not wait.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from ads.lab.cost import HOURS_PER_MONTH, storage_monthly_usd

STOPPED_STATUSES = frozenset({"STOPPED"})
NOT_BILLED_STATUSES = frozenset({"REQUESTED", "FAILED", "DESTROYED"})
INHERITING_STATUSES = frozenset({"DESTROYING"})


class Accrual(BaseModel):
    """What one lab has cost (USD; None where its plan has no price)."""

    hours_running: float
    hours_stopped: float
    compute_usd: float | None
    storage_usd: float | None
    total_usd: float | None


def parse_time(value: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; a date alone is midnight UTC), in UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _billing(status: str, previous: str) -> str:
    if status in INHERITING_STATUSES:
        return previous
    if status in NOT_BILLED_STATUSES:
        return "none"
    if status in STOPPED_STATUSES:
        return "stopped"
    return "running"


def billed_hours(
    history: Iterable[tuple[str, str]], now: datetime, since: datetime | None = None
) -> tuple[float, float]:
    """(running hours, stopped hours) of a history of ``(status, at)``, counted from
    ``since`` (clipped) up to ``now``."""
    running = stopped = 0.0
    state = "none"
    start: datetime | None = None
    for status, at in [*history, ("", "")]:
        moment = parse_time(at) if at else now
        if start is not None and state != "none":
            begin = max(start, since) if since else start
            end = min(moment, now)
            if end > begin:
                hours = (end - begin).total_seconds() / 3600
                if state == "running":
                    running += hours
                else:
                    stopped += hours
        if not status:
            break
        state = _billing(status, state)
        start = moment
    return running, stopped


def accrued(
    plan: Mapping[str, Any],
    history: Iterable[tuple[str, str]],
    now: datetime,
    since: datetime | None = None,
) -> Accrual:
    """The lab's cost from its plan and history, between ``since`` and ``now``."""
    running, stopped = billed_hours(history, now, since)
    hourly = plan.get("hourly_cost_usd")
    compute = round(running * float(hourly), 4) if hourly is not None else None
    monthly = storage_monthly_usd(plan)
    storage = (
        round((running + stopped) * monthly / HOURS_PER_MONTH, 4) if monthly is not None else None
    )
    total = round(compute + storage, 4) if compute is not None and storage is not None else None
    return Accrual(
        hours_running=round(running, 4),
        hours_stopped=round(stopped, 4),
        compute_usd=compute,
        storage_usd=storage,
        total_usd=total,
    )
