"""The sweep's hook into the leases: re-create a live lab's missing expiry schedule.

The sweep calls the hook once per live lab (:data:`ads.sweep.LEASED_STATUSES`) with
``apply`` telling whether to act. It answers None when the lab's schedule is in place
(or the lab has no lease), else the name of the schedule it re-created (``apply``) or
would re-create (a report).

Leases (per-lab EventBridge Scheduler one-time schedules, created at request, moved on
renew, deleted on destroy) are not part of ADS yet, so no lab has a schedule to miss and
:func:`ensure_lease_schedule` answers None for every lab. When leases land, this module
calls their ensure-the-schedule function and the sweep reports what it re-created.
"""

from __future__ import annotations

from collections.abc import Callable

from ads.lab_record import LabRecord

LeaseScheduleHook = Callable[[LabRecord, bool], str | None]


def ensure_lease_schedule(record: LabRecord, apply: bool) -> str | None:
    """No lab has a lease schedule yet: nothing is missing, nothing is re-created."""
    del record, apply
    return None
