"""Requesting a lab action: ``POST /labs/{lab_id}/actions/{name}``; listing them.

The action is one of the plan's ``actions`` (the labspec's ``lab_actions``: start, stop,
backup, restore, test or any other name it defines); any other name is a 404 listing
the defined ones. One operation per lab at a time: the request moves the lab from READY
to ACTING with a conditional write, so a second action or a power operation meanwhile
(and an action on a lab that is not READY) is refused with 409 naming the lab's status.
The ActionLab workflow (``statemachine/action_lab.asl.json``, steps in
:mod:`ads.action_steps`) then runs it and returns the lab to READY. A lab left ACTING by
a workflow that never started, or ended without recording, may be asked an action again.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from ads.action_runs import ActionRun, RunningAction
from ads.deployment_context import DeploymentContext, readable_record
from ads.errors import AdsError
from ads.executions import (
    WorkflowUnavailableError,
    console_url,
)
from ads.lab_operation import LabOperation, claim_and_start, refused, stuck
from ads.lab_record import ALLOWED_FROM, LabRecord, LabStatus, iso, utc_now
from ads.observability import logger

RECENT_RUNS_SHOWN = 20


class UnknownActionError(AdsError):
    code = "action_not_found"
    http_status = 404

    def __init__(self, lab_id: str, name: str, defined: list[str]) -> None:
        super().__init__(
            f"lab {lab_id!r} defines no action {name!r}; defined: "
            + (", ".join(defined) or "none (its labspec declares no lab_actions)"),
            lab_id=lab_id,
            action=name,
            defined=defined,
        )


class ActionAccepted(BaseModel):
    """The 202 answer of an action request."""

    model_config = ConfigDict(extra="forbid")

    lab_id: str
    action: str
    status: str
    execution_arn: str
    console_url: str | None = None


class LabActions(BaseModel):
    """The answer of ``GET /labs/{lab_id}/actions``: newest run first."""

    model_config = ConfigDict(extra="forbid")

    lab_id: str
    status: str
    actions: list[str]
    running: RunningAction | None = None
    runs: list[ActionRun]


def defined_actions(record: LabRecord) -> list[str]:
    """The actions the lab's plan defines with at least one command."""
    actions = record.plan.get("actions") or {}
    return sorted(name for name, commands in actions.items() if commands)


def list_actions(ctx: DeploymentContext, lab_id: str, *, caller: str) -> dict[str, Any]:
    """``GET /labs/{lab_id}/actions``: the defined actions, the running one, recent runs."""
    record = readable_record(ctx, lab_id, caller, assigned=True)
    return LabActions.model_validate(
        {
            "lab_id": record.lab_id,
            "status": record.status.value,
            "actions": defined_actions(record),
            "running": record.action_in_progress,
            "runs": list(reversed(record.action_runs[-RECENT_RUNS_SHOWN:])),
        }
    ).model_dump(mode="json")


ACTION = LabOperation(
    status=LabStatus.ACTING,
    kind="action",
    workflow="ActionLab",
    arn_field="action_execution_arn",
)


def request_action(
    ctx: DeploymentContext, lab_id: str, name: str, *, caller: str
) -> dict[str, Any]:
    """Move the lab to ACTING and start ActionLab for action ``name``; the 202 answer."""
    record = readable_record(ctx, lab_id, caller, assigned=True)
    defined = defined_actions(record)
    if name not in defined:
        raise UnknownActionError(lab_id, name, defined)
    state_machine = ctx.config.action_state_machine_arn
    if not state_machine:
        raise WorkflowUnavailableError(
            "this control plane has no ActionLab state machine configured "
            "(ADS_ACTION_STATE_MACHINE_ARN)",
            http_status=503,
        )
    started = utc_now()
    running = RunningAction(
        name=name, requester=caller, started_at=iso(started), started_epoch=time.time()
    ).model_dump(mode="json")
    again = stuck(ctx, ACTION, record)
    # READY, or DEGRADED (the health watch's recovery, or an owner repairing the lab).
    if not again and record.status not in ALLOWED_FROM[LabStatus.ACTING]:
        raise refused(ACTION, record)
    execution_arn = claim_and_start(
        ctx,
        ACTION,
        lab_id=lab_id,
        again=again,
        state_machine=state_machine,
        note=f"action {name} requested by {caller}",
        fields={"action_in_progress": running},
        payload={"lab_id": lab_id, "action": name},
    )
    logger.info("lab action requested", lab_id=lab_id, action=name, owner=caller)
    return ActionAccepted(
        lab_id=lab_id,
        action=name,
        status=LabStatus.ACTING.value,
        execution_arn=execution_arn,
        console_url=console_url(execution_arn),
    ).model_dump(mode="json")
