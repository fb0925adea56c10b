"""The steps of the ActionLab workflow (``statemachine/action_lab.asl.json``).

READY -> ACTING (the API's conditional write, :mod:`ads.lab_actions`) -> Run Action
(the provider starts the agent's ``action NAME`` on the VM, once per execution) ->
Wait For Action (``ActionInProgress`` until it ends: the state machine retries) ->
Record Action (the run joins the record's ``action_runs``; the lab is READY again).

A failed action is an answer, not a broken lab: the lab returns to READY whatever the
action's exit and the run keeps its exit code and output tail; the execution succeeds
(its output says the run failed), so ActionLab's failure alarms mean a fault of ADS. A
step that could not do its job (the command refused, the VM gone) is recorded the same
way, with its cause, and that execution fails (``LabActionFailed``).
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from ads.action_runs import ActionRun, RunningAction, with_run
from ads.errors import IllegalTransitionError
from ads.failure_causes import failure_cause
from ads.lab_record import LabRecord, LabStatus
from ads.lifecycle_events import EVENTS, LifecyclePublisher
from ads.observability import logger
from ads.providers.base import (
    ComputeProvider,
    InitStatus,
    LabBeingDestroyed,
    StepError,
    VmInfo,
    VmNotRunning,
)
from ads.records import LabRepository

DESTROY_STATES = (LabStatus.DESTROYING, LabStatus.DESTROYED)
# The output tail an action's lifecycle event carries (the record keeps the longer one).
EVENT_OUTPUT_TAIL = 1024


class ActionInProgress(StepError):
    """The action was sent and has not ended. Retried by the state machine."""


class ActionStepResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lab_id: str
    status: str
    action: str
    command_id: str | None = None
    exit_code: int | None = None
    succeeded: bool | None = None
    output_tail: str | None = None
    cause: str | None = None


def _acting(repository: LabRepository, lab_id: str) -> tuple[LabRecord, RunningAction]:
    record = repository.require(lab_id)
    if record.status in DESTROY_STATES:
        raise LabBeingDestroyed(
            f"lab {lab_id} is {record.status.value}: the action stops here", lab_id=lab_id
        )
    if record.status != LabStatus.ACTING or not record.action_in_progress:
        raise VmNotRunning(
            f"lab {lab_id} is {record.status.value}; an action runs only while ACTING",
            lab_id=lab_id,
        )
    return record, RunningAction.model_validate(record.action_in_progress)


def _vm_of(record: LabRecord) -> VmInfo:
    if not record.vm_id or record.agent_port is None:
        raise VmNotRunning(f"lab {record.lab_id} has no VM recorded", lab_id=record.lab_id)
    return VmInfo(
        vm_id=record.vm_id,
        provider=record.provider,
        private_ip=record.private_ip,
        agent_port=record.agent_port,
        details=record.vm_details,
    )


def run_action(
    lab_id: str,
    repository: LabRepository,
    provider: ComputeProvider,
    *,
    execution_id: str | None,
    publisher: LifecyclePublisher | None = None,
) -> ActionStepResult:
    """Send the action once per execution (a retried step follows the command it sent)."""
    record, current = _acting(repository, lab_id)
    if current.command_id and current.execution_id == execution_id:
        return ActionStepResult(
            lab_id=lab_id,
            status=record.status.value,
            action=current.name,
            command_id=current.command_id,
        )
    command_id = provider.run_action(lab_id, _vm_of(record), current.name)  # type: ignore[attr-defined]
    current = current.model_copy(update={"command_id": command_id, "execution_id": execution_id})
    # Stored before it is followed, so a retried step follows this command.
    record = repository.transition(
        lab_id, LabStatus.ACTING, action_in_progress=current.model_dump(mode="json")
    )
    logger.info("lab action sent", action=current.name, command_id=command_id)
    if publisher is not None:
        detail = {"name": current.name, "requester": current.requester}
        publisher.publish(record, EVENTS["action_started"], {"action": detail})
    return ActionStepResult(
        lab_id=lab_id, status=record.status.value, action=current.name, command_id=command_id
    )


def wait_action(
    lab_id: str, repository: LabRepository, provider: ComputeProvider
) -> ActionStepResult:
    record, current = _acting(repository, lab_id)
    if not current.command_id:
        raise VmNotRunning(f"action {current.name} of {lab_id} was never sent", lab_id=lab_id)
    status: InitStatus = provider.action_status(_vm_of(record), current.command_id)  # type: ignore[attr-defined]
    if status.state == "in_progress":
        raise ActionInProgress(
            f"action {current.name} ({current.command_id}) on {record.vm_id} is still running"
        )
    succeeded = status.state == "success"
    cause = None if succeeded else _failed_action_cause(current.name, status)
    return ActionStepResult(
        lab_id=lab_id,
        status=record.status.value,
        action=current.name,
        command_id=current.command_id,
        exit_code=status.exit_code,
        succeeded=succeeded,
        output_tail=status.output_tail,
        cause=cause,
    )


def _failed_action_cause(name: str, status: InitStatus) -> str:
    how = f"exited {status.exit_code}" if status.exit_code is not None else status.detail
    return f"action {name} failed: {how or 'no exit status reported'}"


def record_action(
    lab_id: str,
    repository: LabRepository,
    *,
    outcome: dict[str, Any] | None,
    failed_step: str | None = None,
    error: dict[str, Any] | None = None,
    publisher: LifecyclePublisher | None = None,
) -> ActionStepResult:
    """Add the run to the history and return the lab to READY (idempotent: a retried
    Record Action finds its run already recorded), and say how it ended on the bus."""
    record = repository.require(lab_id)
    if record.status != LabStatus.ACTING or not record.action_in_progress:
        return _already_recorded(record, outcome)
    current = RunningAction.model_validate(record.action_in_progress)
    outcome = outcome or {}
    cause = outcome.get("cause")
    if failed_step:
        cause = failure_cause(failed_step, error)
    run = ActionRun(
        name=current.name,
        requester=current.requester,
        started_at=current.started_at,
        duration_s=round(max(0.0, time.time() - current.started_epoch), 3),
        exit_code=outcome.get("exit_code") if not failed_step else None,
        succeeded=bool(outcome.get("succeeded")) and not failed_step,
        output_tail=str(outcome.get("output_tail") or ""),
        cause=cause,
        execution_id=current.execution_id,
        command_id=current.command_id,
    )
    verdict = "succeeded" if run.succeeded else f"failed ({cause})"
    try:
        record = repository.transition(
            lab_id,
            LabStatus.READY,
            note=f"action {current.name} {verdict}"[:200],
            action_in_progress=None,
            action_runs=with_run(record.action_runs, run),
        )
    except IllegalTransitionError as exc:
        if exc.current not in {s.value for s in DESTROY_STATES}:
            raise
    logger.info("lab action recorded", action=run.name, exit_code=run.exit_code)
    if publisher is not None:
        ended = EVENTS["action_succeeded"] if run.succeeded else EVENTS["action_failed"]
        publisher.publish(record, ended, {"action": action_event_detail(run)})
    return ActionStepResult(
        lab_id=lab_id,
        status=record.status.value,
        action=run.name,
        command_id=run.command_id,
        exit_code=run.exit_code,
        succeeded=run.succeeded,
        output_tail=run.output_tail,
        cause=cause,
    )


def action_event_detail(run: ActionRun) -> dict[str, Any]:
    """A run as its lifecycle event tells it: name, exit code, duration, a bounded tail."""
    return {
        "name": run.name,
        "requester": run.requester,
        "succeeded": run.succeeded,
        "exit_code": run.exit_code,
        "duration_s": run.duration_s,
        "output_tail": (run.output_tail or "")[-EVENT_OUTPUT_TAIL:],
        "cause": run.cause,
    }


def _already_recorded(record: LabRecord, outcome: dict[str, Any] | None) -> ActionStepResult:
    last = record.action_runs[-1] if record.action_runs else {}
    return ActionStepResult(
        lab_id=record.lab_id,
        status=record.status.value,
        action=str(last.get("name") or (outcome or {}).get("action") or ""),
        exit_code=last.get("exit_code"),
        succeeded=bool(last.get("succeeded")),
        output_tail=last.get("output_tail"),
        cause=last.get("cause"),
    )
