"""What a lab's schedule does when it fires (the ``lab_timer`` Lambda's logic).

* ``expire``: the lease is over. The lab moves to DESTROYING with the cause "lease
  expired" and DestroyLab starts, through the same code path as ``DELETE /labs/{id}``
  (so a deployment still in flight is stopped and destroyed instead of finished: a lease
  is wall-clock time, and a lab must not outlive it because it was slow to deploy). A lab
  already DESTROYING or DESTROYED is left alone; a STOPPED or FAILED lab is destroyed too.
* ``warn``: ``Lab Expiring`` goes on the lifecycle bus and the record notes it.
* ``stop`` / ``start``: working hours, through the power operations' own path (its state
  checks apply): a stop of a lab that is not READY, or a start of one not STOPPED, is
  skipped and logged.

A schedule that fires for an older lease (the lab was renewed while it was on its way)
carries that lease's ``expires_at`` and is skipped. A schedule that finds its lab
DESTROYED or gone deletes the lab's leftover schedules.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from ads.deployment_context import DeploymentContext
from ads.errors import AdsError
from ads.lab_record import LabRecord, LabStatus, iso, utc_now
from ads.lab_schedules import LabSchedules
from ads.lifecycle_events import EVENTS, LifecyclePublisher
from ads.observability import logger

LEASE_EXPIRED = "lease expired"
WORKING_HOURS = "working hours"
TimerAction = Literal["expire", "warn", "stop", "start"]


class TimerEvent(BaseModel):
    """The input every lab schedule's target gets (``ads.lab_schedules``)."""

    model_config = ConfigDict(extra="ignore")

    lab_id: str
    action: TimerAction
    expires_at: str | None = None


class TimerOutcome(BaseModel):
    lab_id: str
    action: str
    done: bool
    note: str


def _outcome(event: TimerEvent, done: bool, note: str) -> TimerOutcome:
    logger.info("lab timer", lab_id=event.lab_id, action=event.action, done=done, note=note)
    return TimerOutcome(lab_id=event.lab_id, action=event.action, done=done, note=note)


def _stale(record: LabRecord, event: TimerEvent) -> bool:
    return (record.lease or {}).get("expires_at") != event.expires_at


def _expire(ctx: DeploymentContext, record: LabRecord, event: TimerEvent) -> TimerOutcome:
    from ads.deployments import request_destroy

    if _stale(record, event):
        return _outcome(event, False, "the lease was renewed; this expiry is an older one's")
    answer = request_destroy(ctx, record.lab_id, caller=record.owner, reason=LEASE_EXPIRED)
    return _outcome(event, True, f"destroying ({answer.get('execution_arn')})")


def _warn(
    ctx: DeploymentContext, record: LabRecord, event: TimerEvent, publisher: LifecyclePublisher
) -> TimerOutcome:
    if _stale(record, event):
        return _outcome(event, False, "the lease was renewed; this warning is an older one's")
    lease = dict(record.lease or {}, warned_at=iso(utc_now()))
    updated = ctx.repository.update_fields(record.lab_id, lease=lease)
    publisher.publish(updated, EVENTS["expiring"], {"expires_at": event.expires_at})
    return _outcome(event, True, f"Lab Expiring sent (expires at {event.expires_at})")


def _power(ctx: DeploymentContext, record: LabRecord, event: TimerEvent) -> TimerOutcome:
    from ads.power import request_power

    wanted = LabStatus.READY if event.action == "stop" else LabStatus.STOPPED
    if record.status != wanted:
        return _outcome(event, False, f"skipped: the lab is {record.status.value}, not {wanted}")
    try:
        request_power(ctx, record.lab_id, event.action, caller=record.owner, reason=WORKING_HOURS)
    except AdsError as exc:  # a 409 that raced us, a workflow that did not start
        return _outcome(event, False, f"skipped: {exc.message}")
    return _outcome(event, True, f"{event.action} requested ({WORKING_HOURS})")


def run_timer(
    ctx: DeploymentContext,
    event: TimerEvent,
    publisher: LifecyclePublisher,
    schedules: LabSchedules | None,
) -> TimerOutcome:
    record = ctx.repository.get(event.lab_id)
    if record is None or record.status == LabStatus.DESTROYED:
        if schedules is not None:
            schedules.delete(event.lab_id)
        return _outcome(event, False, "the lab is destroyed; its schedules are deleted")
    if record.status == LabStatus.DESTROYING:
        return _outcome(event, False, "the lab is already being destroyed")
    if event.action == "expire":
        return _expire(ctx, record, event)
    if event.action == "warn":
        return _warn(ctx, record, event, publisher)
    return _power(ctx, record, event)
