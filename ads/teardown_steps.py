"""The steps that end a workflow: Destroy VM, and the final bookkeeping of every workflow
(Mark Ready, Mark Failed, Mark Destroyed, and a destroy that failed).

Like the deploy steps (:mod:`ads.steps`) they never wait: a VM still going raises
:class:`DestroyInProgress` and the state machine retries.
"""

from __future__ import annotations

from typing import Any

from ads.cluster_model import VmStatus, vm_of_step
from ads.cluster_records import VmEntryDestroyed
from ads.failure_causes import FAIL_CAUSE_LIMIT, failure_cause
from ads.lab_record import LabRecord, LabStatus
from ads.lab_schedules import LabSchedules
from ads.leases import forget_lab
from ads.lifecycle_events import LifecyclePublisher
from ads.observability import logger
from ads.outcome_metrics import count_outcome
from ads.providers.access import access_hooks
from ads.providers.base import (
    ComputeProvider,
    DestroyFailed,
    DestroyInProgress,
    ProviderThrottled,
    StepError,
)
from ads.providers.consistency import within_launch_attempt_grace, within_launch_grace
from ads.record_projection import STEP_READ
from ads.records import LabRepository
from ads.step_records import DESTROY_STATES, advance, open_access
from ads.step_results import DestroyVmResult, RecordStatusResult


def destroy_vm(
    lab_id: str, repository: LabRepository, provider: ComputeProvider, *, launch_grace_s: float
) -> DestroyVmResult:
    record = repository.projected(STEP_READ).get(lab_id)
    if record is not None and record.vms:
        from ads.cluster_teardown import destroy_cluster_vms

        return destroy_cluster_vms(record, repository, provider, launch_grace_s=launch_grace_s)
    vm_id = record.vm_id if record else None
    details = record.vm_details if record else {}
    try:
        state = provider.destroy_vm(lab_id, vm_id)
    except (StepError, ProviderThrottled):
        raise
    except Exception as exc:
        # Anything else the cloud answers is terminal here: the cause must reach the record.
        raise DestroyFailed(
            f"destroying the VM of {lab_id} failed: {type(exc).__name__}: {exc}", lab_id=lab_id
        ) from exc
    # Only "terminated" (or "absent", believed once the launch grace is over) ends a VM:
    # a shutting-down instance still exists, and a NotFound right after launch is EC2
    # not listing it yet, so the destroy is retried (and terminates it again) until then.
    if state.state == "shutting-down":
        raise DestroyInProgress(
            f"VM {state.vm_id} of {lab_id} is shutting down; waiting until it is terminated",
            vm_id=state.vm_id,
        )
    if state.state == "absent" and vm_id and within_launch_grace(details, launch_grace_s):
        raise DestroyInProgress(
            f"VM {vm_id} of {lab_id} was launched moments ago and EC2 does not list it yet; "
            "terminating it again",
            vm_id=vm_id,
        )
    if (
        state.state == "absent"
        and not vm_id
        and within_launch_attempt_grace(details, launch_grace_s)
    ):
        raise DestroyInProgress(
            f"lab {lab_id} has no VM recorded and its Create VM started moments ago: EC2 may "
            "not list an instance it launched by its tag yet; looking again",
            lab_id=lab_id,
        )
    if not state.gone:
        raise DestroyFailed(
            f"VM {state.vm_id} of {lab_id} is still {state.state} after destroy", lab_id=lab_id
        )
    hooks = access_hooks(provider)
    if hooks:
        # After the VM is gone: a lab's security group cannot go while an instance wears it.
        hooks.close_lab_access(lab_id, record.plan if record else {})
    logger.info("vm destroyed", vm_id=state.vm_id, state=state.state)
    return DestroyVmResult(vm_id=state.vm_id, state=state.state)


def _note_failed_vm(
    repository: LabRepository,
    record: LabRecord,
    vm_name: str,
    failed_step: str | None,
    cause: str,
) -> None:
    """The failed VM's entry keeps its step and cause (FAILED, unless Destroy VM has
    already marked it DESTROYED)."""
    entry = record.vms.get(vm_name)
    if entry is None:
        return
    fields: dict[str, Any] = {"failed_step": failed_step, "cause": cause[:FAIL_CAUSE_LIMIT]}
    if entry.get("status") != VmStatus.DESTROYED:
        try:
            repository.vm_entries.update_vm(
                record.lab_id, vm_name, status=VmStatus.FAILED.value, **fields
            )
            return
        except VmEntryDestroyed:
            pass  # Destroy VM marked it since the record was read: the cause still goes.
    repository.vm_entries.update_vm(record.lab_id, vm_name, **fields)


def record_status(
    lab_id: str,
    status: LabStatus | str,
    repository: LabRepository,
    publisher: LifecyclePublisher,
    *,
    failed_step: str | None = None,
    error: dict[str, Any] | None = None,
    destroy_error: dict[str, Any] | None = None,
    provider: ComputeProvider | None = None,
    schedules: LabSchedules | None = None,
    ready_recorded: bool = False,
) -> RecordStatusResult:
    """Final bookkeeping of a workflow: READY, FAILED, DESTROYED (with their event), or
    DESTROYING with the cause of a destroy that failed (no event: nothing finished).

    READY of a lab of one VM is written by Check Health itself (``ready_recorded``: its
    access opened at Initialise VM), so Mark Ready only publishes ``Lab Ready`` then."""
    status = LabStatus(status)
    record = repository.require(lab_id)
    earlier = record
    before = record.status
    cause: str | None = None
    if status == LabStatus.FAILED:
        cause = failure_cause(failed_step or "deployment", error)
        failed_vm = vm_of_step(failed_step)
        if failed_vm:
            # A lab of several VMs: which VM failed comes first.
            cause = f"{failed_vm}: {cause}"
        if destroy_error:
            # The VM may still exist: say so next to the original cause.
            cause += "; then " + failure_cause("Destroy VM", destroy_error)
        if before in DESTROY_STATES:
            # A destroy overtook the deployment; its outcome is the one that counts.
            return RecordStatusResult(
                lab_id=lab_id,
                status=before.value,
                changed=False,
                cause=cause[:FAIL_CAUSE_LIMIT],
            )
        if failed_vm:
            _note_failed_vm(repository, record, failed_vm, failed_step, cause)
        record = advance(
            repository, lab_id, LabStatus.FAILED, cause[:200], failed_step=failed_step, cause=cause
        )
    elif status == LabStatus.READY:
        if before == LabStatus.READY and ready_recorded:
            published = publisher.publish(record)
            logger.info("status recorded by Check Health", status=before.value)
            return RecordStatusResult(
                lab_id=lab_id, status=before.value, changed=False, event_published=published
            )
        # The access opens before READY is written, so READY means a student can get in.
        fields = open_access(record, provider)
        record = advance(repository, lab_id, LabStatus.READY, "healthy", **fields)
    elif status == LabStatus.DESTROYING:
        cause = failure_cause(failed_step or "destroy", error)
        record = repository.transition(
            lab_id, LabStatus.DESTROYING, failed_step=failed_step, cause=cause
        )
        count_outcome(earlier, record)
        return RecordStatusResult(
            lab_id=lab_id,
            status=record.status.value,
            changed=False,
            cause=cause[:FAIL_CAUSE_LIMIT],
        )
    elif status == LabStatus.DESTROYED:
        if before not in DESTROY_STATES:
            repository.transition(lab_id, LabStatus.DESTROYING, note="destroying")
        record = repository.transition(lab_id, LabStatus.DESTROYED, note="destroyed")
        # Its lease and working-hours schedules go with it (ads.leases).
        forget_lab(lab_id, schedules)
    else:
        raise ValueError(
            f"status: found {status.value}; allowed: READY, FAILED, DESTROYING, DESTROYED"
        )
    count_outcome(earlier, record, vm_left=bool(destroy_error))
    changed = record.status != before
    published = publisher.publish(record) if changed else False
    logger.info("status recorded", status=record.status.value, changed=changed)
    return RecordStatusResult(
        lab_id=lab_id,
        status=record.status.value,
        changed=changed,
        event_published=published,
        cause=cause[:FAIL_CAUSE_LIMIT] if cause else None,
    )
