"""Leases and working hours of labs: what a request gets, the schedules that enforce it,
and renewals (``POST /labs/{lab_id}/lease``).

The terms are checked before anything is written (:func:`terms_for_request`); the
schedules are created once the lab's DeployLab has started (:func:`schedule_lab`) and
deleted by DestroyLab's final bookkeeping (:func:`forget_lab`). A schedule Scheduler did
not take at request time does not fail the request: the lab runs, the record says so
(``lease.schedule_error``), and the sweep re-creates it (:func:`ensure_expiry_schedule`).
What the schedules do when they fire is :mod:`ads.lab_timers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ads.config import AdsConfig
from ads.deployment_context import DeploymentContext, is_admin, readable_record
from ads.errors import IllegalTransitionError
from ads.lab_record import LabRecord, LabStatus, iso, utc_now
from ads.lab_schedules import LabSchedules, SchedulerUnavailableError, schedules_for
from ads.lease_terms import Lease, LeasePolicy, lease_for
from ads.observability import logger
from ads.working_hours import WorkingHours, parse_working_hours

# A lease can no longer be renewed once its lab is on the way out.
NOT_RENEWABLE = (LabStatus.DESTROYING, LabStatus.DESTROYED, LabStatus.FAILED)


@dataclass(frozen=True)
class LabTerms:
    lease: Lease
    working_hours: WorkingHours | None

    def record_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"lease": self.lease.record_field()}
        if self.working_hours:
            fields["working_hours"] = self.working_hours.record_field()
        return fields


def terms_for_request(
    lease: str | None,
    schedule: str | None,
    owner: str,
    config: AdsConfig,
    now: datetime | None = None,
) -> LabTerms:
    """The lease and working hours a request gets (400/403 naming what is allowed)."""
    terms = lease_for(
        lease,
        admin=is_admin(owner, config),
        policy=LeasePolicy.from_config(config),
        now=now or utc_now(),
    )
    hours = parse_working_hours(schedule) if schedule is not None else None
    return LabTerms(lease=terms, working_hours=hours)


def _put_lease(schedules: LabSchedules, lab_id: str, lease: dict[str, Any]) -> None:
    expires_at = lease.get("expires_at")
    if not expires_at:
        schedules.delete(lab_id, ("expire", "warn"))
        return
    schedules.put_one_time(
        lab_id, "expire", datetime.fromisoformat(expires_at), {"expires_at": expires_at}
    )
    if lease.get("warn_at"):
        schedules.put_one_time(
            lab_id, "warn", datetime.fromisoformat(lease["warn_at"]), {"expires_at": expires_at}
        )


def ensure_expiry_schedule(
    record: LabRecord, schedules: LabSchedules | None = None, config: AdsConfig | None = None
) -> bool:
    """Make sure this lab's expiry (and warning) schedule exists, as its record says;
    idempotent. False when there is nothing to schedule (no lease, no expiry, no
    schedule group)."""
    schedules = schedules or (schedules_for(config) if config else None)
    lease = record.lease or {}
    if schedules is None or not schedules.can_create or not lease.get("expires_at"):
        return False
    if record.status in (LabStatus.DESTROYING, LabStatus.DESTROYED):
        return False
    _put_lease(schedules, record.lab_id, lease)
    return True


def schedule_lab(ctx: DeploymentContext, record: LabRecord) -> None:
    """Create the schedules of a newly requested lab (best effort, see the module)."""
    schedules = schedules_for(ctx.config)
    if schedules is None or not schedules.can_create:
        return
    try:
        ensure_expiry_schedule(record, schedules)
        if record.working_hours:
            hours = parse_working_hours(record.working_hours["spec"])
            for kind in ("stop", "start"):
                schedules.put_recurring(record.lab_id, kind, hours.cron(kind), hours.timezone)
    except SchedulerUnavailableError as exc:
        logger.error("lab schedules not created", lab_id=record.lab_id, cause=exc.message)
        lease = dict(record.lease or {}, schedule_error=exc.message)
        ctx.repository.store_fields(record.lab_id, lease=lease)


def forget_lab(lab_id: str, schedules: LabSchedules | None) -> list[str]:
    """Delete every schedule of the lab (DestroyLab's final bookkeeping). A failure is
    logged, not raised: a leftover schedule that fires finds the lab DESTROYED, does
    nothing and deletes the lab's schedules then (:mod:`ads.lab_timers`)."""
    if schedules is None:
        return []
    try:
        return schedules.delete(lab_id)
    except SchedulerUnavailableError as exc:
        logger.warning("lab schedules not deleted", lab_id=lab_id, cause=exc.message)
        return []


def renew_lease(
    ctx: DeploymentContext,
    lab_id: str,
    duration: str,
    *,
    caller: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Extend (or shorten) the lab's lease to ``duration`` from now, within the maximum;
    moves its schedules. 409 for a lab DESTROYING, DESTROYED or FAILED."""
    record = readable_record(ctx, lab_id, caller, assigned=True)
    if record.status in NOT_RENEWABLE:
        allowed = [s.value for s in LabStatus if s not in NOT_RENEWABLE]
        raise IllegalTransitionError(lab_id, record.status.value, "renewed", allowed)
    now = now or utc_now()
    lease = lease_for(
        duration,
        admin=is_admin(caller, ctx.config),
        policy=LeasePolicy.from_config(ctx.config),
        now=now,
        field="duration",
    )
    fields = dict(lease.record_field(), renewed_at=iso(now))
    schedules = schedules_for(ctx.config)
    if schedules is not None and schedules.can_create:
        # Moved before the record says so: a refused move leaves the old lease in force.
        _put_lease(schedules, lab_id, fields)
    updated = ctx.repository.update_fields(
        lab_id, only_if_status=[s for s in LabStatus if s not in NOT_RENEWABLE], lease=fields
    )
    logger.info("lease renewed", lab_id=lab_id, expires_at=fields["expires_at"], owner=caller)
    return {"lab_id": lab_id, "status": updated.status.value, "lease": fields}


def expiry_schedule_hook(config: AdsConfig) -> Any:
    """For the sweep: ``hook(record, apply)`` answers None when the lab's expiry schedule
    is in place (or it has none to have), else the schedule's name, re-created when
    ``apply``."""
    from ads.lab_schedules import schedule_name

    schedules = schedules_for(config)

    def hook(record: LabRecord, apply: bool) -> str | None:
        if schedules is None or not schedules.can_create:
            return None
        if not (record.lease or {}).get("expires_at"):
            return None
        if record.status in (LabStatus.DESTROYING, LabStatus.DESTROYED):
            return None
        if schedules.exists(record.lab_id, "expire"):
            return None
        if apply:
            ensure_expiry_schedule(record, schedules)
        return schedule_name(record.lab_id, "expire")

    return hook


def restore_schedules(repository: Any, schedules: LabSchedules) -> list[str]:
    """Re-create the schedules of every live lab whose schedules are missing (the local
    plane after a restart: its emulated Scheduler starts empty, its records do not).
    Returns the labs whose schedules were written."""
    live = [s for s in LabStatus if s not in (LabStatus.DESTROYING, LabStatus.DESTROYED)]
    restored = []
    for record in repository.labs_in_status(*live):
        if not record.lease and not record.working_hours:
            continue
        if (record.lease or {}).get("expires_at") and schedules.exists(record.lab_id, "expire"):
            continue
        if ensure_expiry_schedule(record, schedules) or record.working_hours:
            if record.working_hours:
                hours = parse_working_hours(record.working_hours["spec"])
                for kind in ("stop", "start"):
                    schedules.put_recurring(record.lab_id, kind, hours.cron(kind), hours.timezone)
            restored.append(record.lab_id)
    return restored
