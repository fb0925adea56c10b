"""The metrics of a workflow's outcome, counted by the step that records it: READY of a lab
of one VM by Check Health, every other outcome by the final bookkeeping (record_status).

Each outcome counts once: Step Functions may run a Mark step twice, and the second run
finds its status already recorded.
"""

from __future__ import annotations

from datetime import datetime

from ads.lab_metrics import LabMetric
from ads.lab_record import LabRecord, LabStatus
from ads.observability import count, record_seconds


def _seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def count_ready(created_at: str, ready_at: str) -> None:
    """A lab became READY at ``ready_at`` (ISO), requested at ``created_at``."""
    count(LabMetric.LABS_READY)
    record_seconds(LabMetric.TIME_TO_READY, _seconds_between(created_at, ready_at))


def count_outcome(before: LabRecord, after: LabRecord, *, vm_left: bool = False) -> None:
    """Count what changed from ``before`` to ``after``; ``vm_left``: the deployment failed
    and destroying its VM afterwards failed too."""
    if after.status == LabStatus.DESTROYING:
        if (after.failed_step, after.cause) != (before.failed_step, before.cause):
            count(LabMetric.DESTROYS_FAILED, step=after.failed_step or "Destroy VM")
        return
    if after.status == before.status:
        return
    if after.status == LabStatus.READY:
        ready_at = after.status_history[-1].at if after.status_history else after.updated_at
        count_ready(after.created_at, ready_at)
    elif after.status == LabStatus.FAILED:
        count(LabMetric.LABS_FAILED, step=after.failed_step or "deployment")
        if vm_left:
            count(LabMetric.VM_CLEANUPS_FAILED)
    elif after.status == LabStatus.DESTROYED:
        count(LabMetric.LABS_DESTROYED)
