"""The sweep's hook into the leases: re-create a live lab's missing expiry schedule.

The sweep calls the hook once per live lab (:data:`ads.sweep.LEASED_STATUSES`) with
``apply`` telling whether to act. It answers None when the lab's schedule is in place
(or the lab has no lease), else the name of the schedule it re-created (``apply``) or
would re-create (a report).

The sweep of a control plane (:func:`ads.sweep_wiring.sweep_for`) uses the leases' own
hook, :func:`ads.leases.expiry_schedule_hook` (EventBridge Scheduler's GetSchedule, then
the lease's schedules put again). :func:`ensure_lease_schedule` is the hook of a sweep
built without leases: it finds nothing missing, and the sweep then lists no leases.
"""

from __future__ import annotations

from collections.abc import Callable

from ads.lab_record import LabRecord

LeaseScheduleHook = Callable[[LabRecord, bool], str | None]


def ensure_lease_schedule(record: LabRecord, apply: bool) -> str | None:
    """Without leases no lab has a schedule to miss: nothing is re-created."""
    del record, apply
    return None
