"""The sweep's third part: records stuck in a transitional status with no execution running.

A lab is moved along by one Step Functions execution at a time; while that execution
runs, its record may sit in PROVISIONING or STOPPING for as long as it needs. When the
execution ended (SUCCEEDED, FAILED, TIMED_OUT, ABORTED: a state's Catch missed, an
operator stopped it) or never existed, nothing will move the record again. The sweep then
settles it, each write conditional on the record being exactly as it was read (status and
``updated_at``), so a live transition made meanwhile always wins:

* a deployment, power operation or update: the record becomes FAILED with the cause
  (``sweep: execution <name> ended ABORTED while PROVISIONING``), then its VM is destroyed
  through the workflow's own Destroy VM step (a VM it could not destroy is the next
  sweep's orphan, its record being FAILED);
* a destroy: its VM is destroyed, then the record becomes DESTROYED with the cause;
* a lab ACTING is reported only: its VM serves, and an action's end is the ActionLab's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from ads.errors import IllegalTransitionError, LabNotFoundError
from ads.lab_record import LabRecord, LabStatus
from ads.lifecycle_events import EVENTS, LifecyclePublisher
from ads.observability import logger
from ads.providers.base import ComputeProvider, DestroyInProgress
from ads.records import LabRepository
from ads.sweep_model import SweepFinding

FAILED_STEP = "Sweep"
# Statuses an execution holds a lab in, and the record field naming that execution.
EXECUTION_FIELD: dict[LabStatus, str] = {
    LabStatus.REQUESTED: "execution_arn",
    LabStatus.PROVISIONING: "execution_arn",
    LabStatus.INITIALIZING: "execution_arn",
    LabStatus.HEALTH_CHECKING: "execution_arn",
    LabStatus.STOPPING: "power_execution_arn",
    LabStatus.STARTING: "power_execution_arn",
    LabStatus.RESTARTING: "power_execution_arn",
    LabStatus.UPDATING: "update_execution_arn",
    LabStatus.ACTING: "action_execution_arn",
    LabStatus.DESTROYING: "destroy_execution_arn",
}
TRANSITIONAL = tuple(EXECUTION_FIELD)
RUNNING = "RUNNING"
ABSENT = "ABSENT"

ExecutionStatus = Callable[[str], str]  # RUNNING, SUCCEEDED, ... or ABSENT
VmDestroyer = Callable[[str], None]  # destroys the VM of a lab id (the Destroy VM step)


def execution_of(record: LabRecord) -> str | None:
    """The execution that holds ``record`` in its status (a HEALTH_CHECKING lab after a
    start or restart is PowerLab's, after a deploy DeployLab's)."""
    field = EXECUTION_FIELD.get(record.status)
    if field is None:
        return None
    if record.status == LabStatus.HEALTH_CHECKING and _came_from_power(record):
        field = "power_execution_arn"
    return getattr(record, field)


def _came_from_power(record: LabRecord) -> bool:
    earlier = [c.status for c in record.status_history if c.status != LabStatus.HEALTH_CHECKING]
    return bool(earlier) and earlier[-1] in (LabStatus.STARTING, LabStatus.RESTARTING)


def execution_name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


class StuckRecords:
    """Finds and settles the stuck records of ``repository``."""

    def __init__(
        self,
        repository: LabRepository,
        publisher: LifecyclePublisher,
        execution_status: ExecutionStatus,
        destroy_vm: VmDestroyer,
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._execution_status = execution_status
        self._destroy_vm = destroy_vm

    def candidates(self) -> Iterator[LabRecord]:
        return self._repository.labs_in_status(*TRANSITIONAL)

    def examine(self, record: LabRecord) -> SweepFinding | None:
        """The finding for a stuck record, or None while its execution runs."""
        arn = execution_of(record)
        status = self._execution_status(arn) if arn else ABSENT
        if status == RUNNING or self._waits_for_its_turn(record, status):
            return None
        name = execution_name(arn) if arn else "(none recorded)"
        ended = "does not exist" if status == ABSENT else f"ended {status}"
        reason = f"sweep: execution {name} {ended} while {record.status.value}"
        if record.status == LabStatus.ACTING:
            action = "none (an action leaves its VM serving; report only)"
        elif record.status == LabStatus.DESTROYING:
            action = "destroy the VM, mark DESTROYED"
        else:
            action = "mark FAILED, destroy the VM"
        return SweepFinding(
            kind="record",
            resource=record.lab_id,
            lab_id=record.lab_id,
            reason=reason,
            action=action,
        )

    def _waits_for_its_turn(self, record: LabRecord, status: str) -> bool:
        """A cohort's lab whose DeployLab has not started yet while its cohort's round
        (DeployCohort's Map, a few members at a time) still runs: not stuck."""
        return (
            record.status == LabStatus.REQUESTED
            and status == ABSENT
            and bool(record.cohort_execution_arn)
            and self._execution_status(str(record.cohort_execution_arn)) == RUNNING
        )

    def settle(self, record: LabRecord, finding: SweepFinding) -> None:
        if record.status == LabStatus.ACTING:
            finding.outcome = "skipped"
            return
        try:
            done = self._settle(record, finding.reason)
        except (IllegalTransitionError, LabNotFoundError) as exc:
            finding.outcome, finding.error = "skipped", f"the lab moved on: {exc}"
            return
        except Exception as exc:  # reported; the next sweep tries again
            finding.outcome, finding.error = "error", f"{type(exc).__name__}: {exc}"
            logger.warning("sweep could not settle a lab", lab_id=record.lab_id, error=str(exc))
            return
        finding.outcome = "done"
        logger.info("sweep settled a stuck lab", lab_id=record.lab_id, cause=finding.reason)
        self._publisher.publish(done)
        sweep = finding.model_dump(include={"kind", "resource", "reason", "action"})
        self._publisher.publish(done, EVENTS["swept"], {"sweep": sweep})

    def _settle(self, record: LabRecord, cause: str) -> LabRecord:
        if record.status == LabStatus.DESTROYING:
            # DESTROYED only once the VM is gone (a shutting-down one: the next sweep).
            self._destroy_vm(record.lab_id)
            return self._repository.transition_if_unchanged(
                record, LabStatus.DESTROYED, note=cause[:200], cause=cause
            )
        done = self._repository.transition_if_unchanged(
            record, LabStatus.FAILED, note=cause[:200], failed_step=FAILED_STEP, cause=cause
        )
        with contextlib.suppress(DestroyInProgress):  # terminating: EC2 finishes it
            self._destroy_vm(record.lab_id)
        return done


def destroy_vm_step(
    repository: LabRepository, provider: ComputeProvider, launch_grace_s: float
) -> VmDestroyer:
    """The workflow's Destroy VM step (the VM, then its access) for one lab id."""
    from ads.teardown_steps import destroy_vm

    def destroy(lab_id: str) -> None:
        destroy_vm(lab_id, repository, provider, launch_grace_s=launch_grace_s)

    return destroy
