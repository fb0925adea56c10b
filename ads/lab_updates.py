"""Requesting an update in place: ``POST /labs/{lab_id}/redeploy``, ``ads redeploy`` and
the CI event ``Lab Update Requested``.

The update fetches another ref of the lab's git source on the same VM and runs the deploy
steps again (with a new labspec's plan when one is given). One operation per lab at a
time: the request moves the lab from READY to UPDATING with a conditional write, so a
second update, an action or a power operation meanwhile (and an update of a lab that is
not READY) is refused with 409 naming the lab's status. The RedeployLab workflow
(``statemachine/redeploy_lab.asl.json``, steps in :mod:`ads.update_steps`) then runs it.
A lab left UPDATING by a workflow that never started may be asked again.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ads.api_models import DeploymentOptions
from ads.deployment_context import DeploymentContext, readable_record
from ads.errors import FieldProblem, InvalidInputError
from ads.executions import (
    WorkflowUnavailableError,
    console_url,
)
from ads.lab_operation import LabOperation, claim_and_start, refused, stuck
from ads.lab_record import LabRecord, LabStatus
from ads.observability import logger
from ads.source_checks import found
from ads.update_steps import started_update

# As a deployment's source.ref (ads.source_checks); ".." is refused by the validator.
REF_PATTERN = r"^[A-Za-z0-9._/+@][A-Za-z0-9._/+@-]{0,254}$"
# What an update keeps: the VM. A labspec that asks for another machine is refused.
MACHINE_FIELDS = ("instance_type", "image", "arch", "os", "root_volume_gib")


class RedeployRequest(BaseModel):
    """Body of ``POST /labs/{lab_id}/redeploy``."""

    model_config = ConfigDict(extra="forbid")

    ref: str = Field(
        pattern=REF_PATTERN,
        description="the branch, tag or commit of the lab's git source to deploy: "
        "letters, digits and ._/+@- , not starting with - and without ..",
    )
    labspec: dict[str, Any] | None = Field(
        default=None,
        description="a new labspec (template 1.0); it may change the steps, actions and "
        "probe, not the machine (instance type, image, OS, architecture, disk)",
    )

    @field_validator("ref")
    @classmethod
    def _no_parent_step(cls, ref: str) -> str:
        if ".." in ref:
            raise ValueError("a branch, tag or commit never holds '..'")
        return ref


class RedeployAccepted(BaseModel):
    """The 202 answer of an update request."""

    model_config = ConfigDict(extra="forbid")

    lab_id: str
    ref: str
    status: str
    execution_arn: str
    console_url: str | None = None


UPDATE = LabOperation(
    status=LabStatus.UPDATING,
    kind="update",
    workflow="RedeployLab",
    arn_field="update_execution_arn",
)


def _new_plan(ctx: DeploymentContext, record: LabRecord, labspec: dict[str, Any]) -> dict:
    from ads.deployments import request_plan

    options = DeploymentOptions.model_validate(
        {k: v for k, v in record.options.items() if k in DeploymentOptions.model_fields}
    )
    plan = request_plan(labspec, options, ctx.config)
    changed = [name for name in MACHINE_FIELDS if plan.get(name) != record.plan.get(name)]
    if changed:
        raise InvalidInputError(
            FieldProblem(
                "labspec",
                f"a labspec asking for another machine ({', '.join(changed)} differ)",
                "a labspec for the same machine: an update keeps the VM; deploy a new lab "
                "for another one",
            ),
            subject="request",
        )
    plan["cost_tags"] = record.plan.get("cost_tags")
    return plan


def request_update(
    ctx: DeploymentContext, lab_id: str, request: RedeployRequest, *, caller: str
) -> dict[str, Any]:
    """Move the lab to UPDATING and start RedeployLab for ``request``; the 202 answer."""
    record = readable_record(ctx, lab_id, caller)
    if record.vms:
        # An update runs on one VM; a lab of several VMs would end half on each revision.
        raise InvalidInputError(
            FieldProblem(
                "lab_id",
                f"{lab_id!r}, a lab of {len(record.vms)} VMs ({', '.join(record.vms)})",
                "an update in place only of a lab of one VM; deploy the new revision as a "
                "new lab and destroy this one",
            ),
            subject="request",
        )
    if not (record.source or {}).get("git"):
        raise InvalidInputError(
            FieldProblem(
                "ref",
                f"{found(request.ref)} for a lab deployed without a git source",
                "an update only of a lab deployed from source.git",
            ),
            subject="request",
        )
    state_machine = ctx.config.redeploy_state_machine_arn
    if not state_machine:
        raise WorkflowUnavailableError(
            "this control plane has no RedeployLab state machine configured "
            "(ADS_REDEPLOY_STATE_MACHINE_ARN)",
            http_status=503,
        )
    again = stuck(ctx, UPDATE, record)
    if not again and record.status != LabStatus.READY:
        raise refused(UPDATE, record)
    plan = _new_plan(ctx, record, request.labspec) if request.labspec is not None else None
    running = started_update(
        request.ref,
        caller,
        plan=plan,
        labspec=request.labspec,
        previous_revision=record.revision,
    )
    execution_arn = claim_and_start(
        ctx,
        UPDATE,
        lab_id=lab_id,
        again=again,
        state_machine=state_machine,
        note=f"update to {request.ref} requested by {caller}",
        fields={"update_in_progress": running},
        payload={"lab_id": lab_id, "ref": request.ref},
    )
    logger.info("lab update requested", lab_id=lab_id, ref=request.ref, owner=caller)
    return RedeployAccepted(
        lab_id=lab_id,
        ref=request.ref,
        status=LabStatus.UPDATING.value,
        execution_arn=execution_arn,
        console_url=console_url(execution_arn),
    ).model_dump(mode="json")
