"""Requesting a power operation: ``POST /labs/{lab_id}/stop``, ``/start``, ``/restart``.

One operation per lab at a time: the request moves the lab to STOPPING, STARTING or
RESTARTING with a conditional write, so a second request (or one for a lab in a status
that does not allow the operation) is refused with 409 naming the lab's status. Then
the PowerLab workflow starts (``statemachine/power_lab.asl.json``, steps in
:mod:`ads.power_steps`), named ``<lab_id>-<operation>-<n>`` after the transition that
began it. A lab left in STOPPING/STARTING/RESTARTING by a workflow that never started
(or ended without moving it on) may be asked the same operation again.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ads.deployment_context import DeploymentContext, readable_record
from ads.errors import IllegalTransitionError
from ads.executions import (
    WorkflowUnavailableError,
    console_url,
    execution_status,
    start_failure,
)
from ads.lab_record import ALLOWED_FROM, LabRecord
from ads.observability import logger
from ads.power_steps import OPERATION_STATUS

PowerOperation = Literal["stop", "start", "restart"]
OPERATIONS: tuple[str, ...] = tuple(OPERATION_STATUS)


class PowerAccepted(BaseModel):
    """The 202 answer of a power request."""

    model_config = ConfigDict(extra="forbid")

    lab_id: str
    operation: PowerOperation
    status: str
    execution_arn: str
    console_url: str | None = None


def _refused(record: LabRecord, operation: str) -> IllegalTransitionError:
    wanted = OPERATION_STATUS[operation]
    return IllegalTransitionError(
        record.lab_id,
        record.status.value,
        wanted.value,
        [s.value for s in ALLOWED_FROM[wanted]],
    )


def _execution_name(record: LabRecord, operation: str, *, again: bool) -> str:
    # Unique per transition; a repeat of a stuck operation adds the time it was asked.
    name = f"{record.lab_id}-{operation}-{len(record.status_history)}"
    return f"{name}-{int(time.time())}" if again else name


def request_power(
    ctx: DeploymentContext,
    lab_id: str,
    operation: str,
    *,
    caller: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Move the lab to the operation's status and start PowerLab; the 202 answer.
    ``reason`` (working hours, for instance) names who asked in the status history."""
    if operation not in OPERATION_STATUS:
        raise ValueError(f"operation: found {operation!r}; allowed: {', '.join(OPERATIONS)}")
    record = readable_record(ctx, lab_id, caller, assigned=True)
    state_machine = ctx.config.power_state_machine_arn
    if not state_machine:
        raise WorkflowUnavailableError(
            "this control plane has no PowerLab state machine configured "
            "(ADS_POWER_STATE_MACHINE_ARN)",
            http_status=503,
        )
    wanted = OPERATION_STATUS[operation]
    again = record.status == wanted
    if again:
        running = record.power_execution_arn and execution_status(
            ctx, record.power_execution_arn
        ) in ("RUNNING", "PENDING_REDRIVE")
        if running:
            raise _refused(record, operation)
    elif record.status not in ALLOWED_FROM[wanted]:
        raise _refused(record, operation)
    else:
        # The conditional write is the lock: of two concurrent requests one gets 409.
        record = ctx.repository.transition(
            lab_id, wanted, note=f"{operation} requested by {reason or caller}"
        )
    name = _execution_name(record, operation, again=again)
    try:
        response = ctx.stepfunctions.start_execution(
            stateMachineArn=state_machine,
            name=name,
            input=json.dumps({"lab_id": lab_id, "operation": operation}),
        )
    except Exception as exc:
        error = start_failure(exc, "the PowerLab workflow")
        logger.error("power execution not started", lab_id=lab_id, cause=error.message)
        # The lab stays in its new status; asking the same operation again retries.
        ctx.repository.store_fields(lab_id, cause=error.message)
        raise error from exc
    execution_arn = response["executionArn"]
    ctx.repository.store_fields(lab_id, power_execution_arn=execution_arn)
    logger.info("power operation requested", lab_id=lab_id, operation=operation, owner=caller)
    return PowerAccepted(
        lab_id=lab_id,
        operation=operation,  # type: ignore[arg-type]
        status=wanted.value,
        execution_arn=execution_arn,
        console_url=console_url(execution_arn),
    ).model_dump(mode="json")
