"""Lab lifecycle events on EventBridge: one per transition, named in :data:`EVENTS`.

Subscribers (notifications, CI pipelines waiting for their lab) match on
``source = "ads"`` and the detail-type. Publishing is best-effort from the workflow's
point of view: the record is the source of truth, so a failed put is logged, not raised.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ads.lab_record import LabRecord, LabStatus
from ads.observability import logger

SOURCE = "ads"
# The detail-type of every lifecycle event, by the transition it announces: the one table
# publishers take their event's name from (a new transition adds its line here, and
# docs/api.md's event list: tests/unit/test_lifecycle_events.py holds them together).
EVENTS: dict[str, str] = {
    "ready": "Lab Ready",
    "failed": "Lab Failed",
    "destroyed": "Lab Destroyed",
    "stopped": "Lab Stopped",
    # READY again after a start (ads.power_steps), told apart from a first deploy.
    "started": "Lab Started",
    # READY again after a restart (a reboot and its health check).
    "restarted": "Lab Restarted",
    # A lab action (ads.action_steps): sent to the VM, then its end either way.
    "action_started": "Lab Action Started",
    "action_succeeded": "Lab Action Succeeded",
    "action_failed": "Lab Action Failed",
    # The health watch (ads.health_watch).
    "degraded": "Lab Degraded",
    "recovered": "Lab Recovered",
    # Update in place (ads.update_steps): READY on the new revision, or READY on the
    # previous one after a failed update (its cause in the detail).
    "updated": "Lab Updated",
    "update_failed": "Lab Update Failed",
    # The sweep (ads.sweep): a stuck lab settled, a resource no live lab owns removed.
    "swept": "Lab Swept",
    "orphan_terminated": "Orphan Terminated",
    # Leases (ads.lab_timers): the lease ends soon (its expires_at in the detail).
    "expiring": "Lab Expiring",
    # Cohorts (ads.cohort_events): labs requested for members, a round of DeployCohort
    # ended (every member's lab of it settled; the counts by status in the detail), and
    # the destroy of every member's lab requested.
    "cohort_requested": "Cohort Requested",
    "cohort_deployed": "Cohort Deployed",
    "cohort_destroyed": "Cohort Destroyed",
}
# The event a status announces when no transition names another.
DETAIL_TYPES = {
    LabStatus.READY: EVENTS["ready"],
    LabStatus.FAILED: EVENTS["failed"],
    LabStatus.DESTROYED: EVENTS["destroyed"],
    LabStatus.STOPPED: EVENTS["stopped"],
}
STARTED_DETAIL_TYPE = EVENTS["started"]
RESTARTED_DETAIL_TYPE = EVENTS["restarted"]


def event_detail(record: LabRecord) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "lab_id": record.lab_id,
        "status": record.status.value,
        "owner": record.owner,
        "failed_step": record.failed_step,
    }
    if record.status in (LabStatus.READY, LabStatus.STOPPED):
        detail["endpoint"] = record.endpoint
        if record.app_url:
            detail["app_url"] = record.app_url
    else:
        detail["cause"] = record.cause
    return detail


class LifecyclePublisher:
    """Puts lifecycle events on ``bus_name``; an empty bus name disables publishing."""

    def __init__(self, events_client: Any, bus_name: str) -> None:
        self._events = events_client
        self._bus = bus_name

    def publish(
        self,
        record: LabRecord,
        detail_type: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Put the event of ``record``'s transition; ``extra`` joins its detail (an
        action's run, the health watch's findings)."""
        detail_type = detail_type or DETAIL_TYPES.get(record.status)
        if detail_type is None:
            return False
        return self.publish_detail(detail_type, {**event_detail(record), **(extra or {})})

    def publish_detail(self, detail_type: str, detail: dict[str, Any]) -> bool:
        """Put one event with this detail (the sweep's, about resources with no record)."""
        if not self._bus:
            return False
        entry = {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(detail),
            "EventBusName": self._bus,
            "Resources": [],
        }
        try:
            response = self._events.put_events(Entries=[entry])
        except ClientError as exc:
            logger.warning("lifecycle event not published", detail_type=detail_type, error=str(exc))
            return False
        if response.get("FailedEntryCount"):
            logger.warning(
                "lifecycle event rejected", detail_type=detail_type, entries=response.get("Entries")
            )
            return False
        return True
