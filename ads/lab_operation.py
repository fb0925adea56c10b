"""One operation at a time on a lab: the lock an action or an update in place claims.

The request moves the lab to the operation's status by a conditional transition (READY
-> ACTING, READY -> UPDATING): of two concurrent requests one gets 409. Then it starts
the operation's workflow; when the start fails the lab stays in that status with no
execution, the cause is kept, and asking again retries (``stuck`` admits it), under a
new execution name.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ads.deployment_context import DeploymentContext
from ads.errors import IllegalTransitionError
from ads.executions import execution_status, start_failure
from ads.lab_record import ALLOWED_FROM, LabRecord, LabStatus
from ads.observability import logger


@dataclass(frozen=True)
class LabOperation:
    status: LabStatus  # the status that is the lock (ACTING, UPDATING)
    kind: str  # in the execution's name and the log line: "action", "update"
    workflow: str  # the state machine's name: "ActionLab", "RedeployLab"
    arn_field: str  # the record's field for the execution's ARN


def refused(operation: LabOperation, record: LabRecord) -> IllegalTransitionError:
    return IllegalTransitionError(
        record.lab_id,
        record.status.value,
        operation.status.value,
        [s.value for s in ALLOWED_FROM[operation.status]],
    )


def stuck(ctx: DeploymentContext, operation: LabOperation, record: LabRecord) -> bool:
    """In the operation's status with no execution running: nothing will move the lab on."""
    if record.status != operation.status:
        return False
    arn = getattr(record, operation.arn_field)
    return not arn or execution_status(ctx, arn) not in ("RUNNING", "PENDING_REDRIVE")


def claim_and_start(
    ctx: DeploymentContext,
    operation: LabOperation,
    *,
    lab_id: str,
    again: bool,
    state_machine: str,
    note: str,
    fields: dict[str, Any],
    payload: dict[str, Any],
) -> str:
    """Move the lab to the operation's status with ``fields`` and start its workflow with
    ``payload``; the execution's ARN."""
    # The conditional transition is the lock: of two concurrent requests one gets 409.
    record = ctx.repository.transition(lab_id, operation.status, note=note[:200], **fields)
    execution_name = f"{lab_id}-{operation.kind}-{len(record.status_history)}"
    if again:
        execution_name += f"-{int(time.time())}"
    try:
        response = ctx.stepfunctions.start_execution(
            stateMachineArn=state_machine, name=execution_name[:80], input=json.dumps(payload)
        )
    except Exception as exc:
        error = start_failure(exc, f"the {operation.workflow} workflow")
        logger.error(f"{operation.kind} execution not started", lab_id=lab_id, cause=error.message)
        ctx.repository.store_fields(lab_id, cause=error.message)
        raise error from exc
    execution_arn = str(response["executionArn"])
    arn_field: dict[str, Any] = {operation.arn_field: execution_arn}
    ctx.repository.store_fields(lab_id, **arn_field)
    return execution_arn
