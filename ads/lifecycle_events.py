"""Lab lifecycle events on EventBridge: "Lab Ready", "Lab Failed", "Lab Destroyed",
"Lab Stopped", "Lab Started".

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
DETAIL_TYPES = {
    LabStatus.READY: "Lab Ready",
    LabStatus.FAILED: "Lab Failed",
    LabStatus.DESTROYED: "Lab Destroyed",
    LabStatus.STOPPED: "Lab Stopped",
}
# READY again after a start or restart (ads.power_steps), told apart from a first deploy.
STARTED_DETAIL_TYPE = "Lab Started"


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

    def publish(self, record: LabRecord, detail_type: str | None = None) -> bool:
        detail_type = detail_type or DETAIL_TYPES.get(record.status)
        if not self._bus or detail_type is None:
            return False
        entry = {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(event_detail(record)),
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
