"""The steps of the RedeployLab workflow (``statemachine/redeploy_lab.asl.json``).

READY -> UPDATING (the API's conditional write, :mod:`ads.lab_updates`) -> Start Update
(the provider starts the agent's ``update`` on the VM, once per execution) -> Wait For
Update (``UpdateInProgress`` until it ends) -> Check Health -> Record Update: READY on
the new revision (``Lab Updated``), or READY on the previous one, which the agent
deployed again (``Lab Update Failed``, the cause recorded). Only a lab that answers no
health check after the update and its restore is lost: Record Update says so, and the
workflow destroys its VM and records FAILED with both causes, as a failed deploy does.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ads.failure_causes import failure_cause
from ads.health_probe import probe_health
from ads.lab_record import LabRecord, LabStatus, iso, utc_now
from ads.lifecycle_events import EVENTS, LifecyclePublisher
from ads.observability import logger
from ads.providers.base import (
    ComputeProvider,
    HealthCheckPending,
    LabBeingDestroyed,
    VmNotRunning,
)
from ads.providers.vm_update import UpdateInProgress, VmUpdateRequest
from ads.records import LabRepository
from ads.revisions import RevisionEntry, RunningUpdate, first_deploy, with_revision
from ads.step_records import DESTROY_STATES, vm_of


class UpdateStepResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lab_id: str
    status: str
    command_id: str | None = None
    outcome: str | None = None
    revision: str | None = None
    previous_revision: str | None = None
    failed_step: str | None = None
    cause: str | None = None
    restore_cause: str | None = None
    exit_code: int | None = None
    output_tail: str | None = None
    healthy: bool | None = None
    # Record Update: the lab answers no health check on either revision (destroy it).
    lost: bool | None = None


def _updating(repository: LabRepository, lab_id: str) -> tuple[LabRecord, RunningUpdate]:
    record = repository.require(lab_id)
    if record.status in DESTROY_STATES:
        raise LabBeingDestroyed(
            f"lab {lab_id} is {record.status.value}: the update stops here", lab_id=lab_id
        )
    if record.status != LabStatus.UPDATING or not record.update_in_progress:
        raise VmNotRunning(
            f"lab {lab_id} is {record.status.value}; an update runs only while UPDATING",
            lab_id=lab_id,
        )
    return record, RunningUpdate.model_validate(record.update_in_progress)


def start_update(
    lab_id: str, repository: LabRepository, provider: ComputeProvider, *, execution_id: str | None
) -> UpdateStepResult:
    """Send the update once per execution (a retried step follows the command it sent)."""
    record, current = _updating(repository, lab_id)
    if current.command_id and current.execution_id == execution_id:
        return UpdateStepResult(
            lab_id=lab_id, status=record.status.value, command_id=current.command_id
        )
    source = record.source or {}
    request = VmUpdateRequest(
        source_git=str(source.get("git") or ""),
        source_ref=current.ref,
        plan=current.plan,
        requester_uid=record.requester_uid,
    )
    command_id = provider.start_update(lab_id, vm_of(record), request)  # type: ignore[attr-defined]
    current = current.model_copy(update={"command_id": command_id, "execution_id": execution_id})
    # Stored before it is followed, so a retried step follows this command.
    repository.transition(
        lab_id, LabStatus.UPDATING, update_in_progress=current.model_dump(mode="json")
    )
    logger.info("lab update sent", ref=current.ref, command_id=command_id)
    return UpdateStepResult(lab_id=lab_id, status=record.status.value, command_id=command_id)


def wait_update(
    lab_id: str, repository: LabRepository, provider: ComputeProvider
) -> UpdateStepResult:
    record, current = _updating(repository, lab_id)
    if not current.command_id:
        raise VmNotRunning(f"the update of {lab_id} was never sent", lab_id=lab_id)
    status = provider.update_status(vm_of(record), current.command_id)  # type: ignore[attr-defined]
    if status.state == "in_progress":
        raise UpdateInProgress(
            f"update ({current.command_id}) on {record.vm_id} is still running "
            f"({status.detail or 'no detail'})"
        )
    result = status.result or {}
    outcome = str(result.get("outcome") or "unknown")
    cause = result.get("cause")
    if not result:
        how = f"exited {status.exit_code}" if status.exit_code is not None else status.detail
        cause = f"the agent's update reported no outcome ({how or 'no exit status'})"
    return UpdateStepResult(
        lab_id=lab_id,
        status=record.status.value,
        command_id=current.command_id,
        outcome=outcome,
        revision=result.get("revision"),
        previous_revision=result.get("previous_revision"),
        failed_step=result.get("failed_step"),
        cause=cause,
        restore_cause=result.get("restore_cause"),
        exit_code=status.exit_code,
        output_tail=status.output_tail,
    )


def check_health(
    lab_id: str, repository: LabRepository, provider: ComputeProvider, *, timeout_s: float
) -> UpdateStepResult:
    """The lab's agent answers healthy (``HealthCheckPending`` until it does: retried)."""
    record, _ = _updating(repository, lab_id)
    vm = vm_of(record)
    current = getattr(provider, "vm_info", None)
    fresh = current(vm.vm_id) if callable(current) else None
    if fresh is not None and fresh.agent_port != vm.agent_port:
        # The local provider gives the agent a new port when its old one was taken.
        vm = vm.model_copy(update={"agent_port": fresh.agent_port, "details": fresh.details})
        endpoint = provider.health_url(vm).removesuffix("/health")
        repository.transition(
            lab_id,
            LabStatus.UPDATING,
            agent_port=vm.agent_port,
            endpoint=endpoint,
            vm_details={**record.vm_details, **vm.details},
        )
    url = provider.health_url(vm)
    code, body = probe_health(url, timeout_s)
    if code != 200:
        reason = f"answered {code}" if code is not None else "did not answer"
        raise HealthCheckPending(f"GET {url} {reason}: {body[:500]}", url=url, status_code=code)
    return UpdateStepResult(lab_id=lab_id, status=record.status.value, healthy=True)


def _caught(state: dict[str, Any]) -> tuple[str | None, str | None]:
    """The step whose error the workflow caught, and that error as a cause."""
    for key, step in (
        ("start_error", "Start Update"),
        ("wait_error", "Wait For Update"),
        ("health_error", "Check Health"),
    ):
        if isinstance(state.get(key), dict):
            return step, failure_cause(step, state[key])
    return None, None


def record_update(
    lab_id: str,
    repository: LabRepository,
    publisher: LifecyclePublisher,
    *,
    state: dict[str, Any],
) -> UpdateStepResult:
    """Record the update's outcome from the workflow's state: READY on the new revision,
    READY on the previous one, or ``lost`` (still UPDATING; the workflow destroys the VM)."""
    record = repository.require(lab_id)
    if record.status != LabStatus.UPDATING or not record.update_in_progress:
        return _already_recorded(record)
    current = RunningUpdate.model_validate(record.update_in_progress)
    waited = ((state.get("waited") or {}).get("result")) or {}
    caught_step, caught_cause = _caught(state)
    healthy = not isinstance(state.get("health_error"), dict)
    outcome = str(waited.get("outcome") or "failed")
    previous = waited.get("previous_revision") or current.previous_revision or record.revision
    history = first_deploy(
        record.revisions,
        ref=(record.source or {}).get("ref"),
        sha=previous,
        requested_by=record.owner,
        at=record.created_at,
    )
    updated = outcome == "updated" and healthy
    if updated:
        cause = None
    else:
        causes = [waited.get("cause"), waited.get("restore_cause"), caught_cause]
        cause = "; ".join(str(c) for c in causes if c) or "the update failed"
        if outcome == "updated":
            outcome = "restore_failed"  # deployed, then answered no health check
        elif not healthy:
            outcome = "restore_failed"
        elif outcome not in ("rolled_back",):
            outcome = "failed"
    entry = RevisionEntry(
        ref=current.ref,
        sha=waited.get("revision"),
        requested_by=current.requested_by,
        at=current.started_at,
        outcome=outcome,  # type: ignore[arg-type]
        cause=cause,
        execution_id=current.execution_id,
    )
    history = with_revision(history, entry)
    if not healthy:
        # Lost: the history keeps why; the workflow destroys the VM and records FAILED.
        repository.transition(lab_id, LabStatus.UPDATING, revisions=history)
        logger.warning("lab lost in an update", cause=cause, failed_step=caught_step)
        return UpdateStepResult(
            lab_id=lab_id, status=LabStatus.UPDATING.value, outcome=outcome, cause=cause, lost=True
        )
    fields: dict[str, Any] = {"update_in_progress": None, "revisions": history}
    if updated:
        fields["revision"] = entry.sha
        if current.plan is not None:
            fields["plan"] = current.plan
            fields["labspec"] = current.labspec or record.labspec
        fields["source"] = {**(record.source or {}), "ref": current.ref}
    else:
        fields["revision"] = previous
    verdict = f"updated to {entry.sha}" if updated else f"update failed ({cause})"
    record = repository.transition(lab_id, LabStatus.READY, note=verdict[:200], **fields)
    extra = {"ref": current.ref, "revision": record.revision}
    if not updated:
        extra.update({"cause": cause, "failed_revision": entry.sha})
    publisher.publish(
        record, EVENTS["updated"] if updated else EVENTS["update_failed"], extra=extra
    )
    logger.info("lab update recorded", outcome=outcome, revision=record.revision)
    return UpdateStepResult(
        lab_id=lab_id,
        status=record.status.value,
        outcome=outcome,
        revision=record.revision,
        previous_revision=previous,
        cause=cause,
        healthy=True,
        lost=False,
    )


def _already_recorded(record: LabRecord) -> UpdateStepResult:
    last = record.revisions[-1] if record.revisions else {}
    return UpdateStepResult(
        lab_id=record.lab_id,
        status=record.status.value,
        outcome=last.get("outcome"),
        revision=record.revision,
        cause=last.get("cause"),
        lost=False,
    )


def started_update(ref: str | None, requester: str, **fields: Any) -> dict[str, Any]:
    """The record's ``update_in_progress`` for an update just requested."""
    return RunningUpdate(
        ref=ref, requested_by=requester, started_at=iso(utc_now()), **fields
    ).model_dump(mode="json")
