"""The RedeployLab steps: Start Update, Wait For Update, Check Health, Record Update, and
Destroy VM / Mark Failed for a lab lost in an update. The state names its step; the
logic is :mod:`ads.update_steps` (and :mod:`ads.teardown_steps` for the lost lab)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ads import steps, teardown_steps, update_steps
from ads.lab_record import LabStatus
from functions.step_handler import step_handler
from functions.step_input import StepInput

UpdateStep = Literal[
    "start_update", "wait_update", "check_health", "record_update", "destroy_vm", "mark_failed"
]


class UpdateStepInput(StepInput):
    step: UpdateStep
    # Record Update: the workflow's whole state (the results and caught errors so far).
    state: dict[str, Any] = Field(default_factory=dict)
    # Mark Failed: a destroy that failed too.
    destroy_error: dict[str, Any] | None = None


def redeploy_vm(request: UpdateStepInput, deps: steps.StepDependencies) -> Any:
    lab_id, repository, provider = request.lab_id, deps.repository, deps.provider
    if request.step == "start_update":
        return update_steps.start_update(
            lab_id, repository, provider, execution_id=request.execution_id
        )
    if request.step == "wait_update":
        return update_steps.wait_update(lab_id, repository, provider)
    if request.step == "check_health":
        return update_steps.check_health(
            lab_id, repository, provider, timeout_s=deps.config.health_timeout_s
        )
    if request.step == "record_update":
        return update_steps.record_update(lab_id, repository, deps.publisher, state=request.state)
    if request.step == "destroy_vm":
        return teardown_steps.destroy_vm(
            lab_id, repository, provider, launch_grace_s=deps.config.launch_grace_s
        )
    return teardown_steps.record_status(
        lab_id,
        LabStatus.FAILED,
        repository,
        deps.publisher,
        failed_step="Update",
        error={"Error": "UpdateFailed", "Cause": update_steps.lost_cause(lab_id, repository)},
        destroy_error=request.destroy_error,
        provider=provider,
    )


# A field only where there is one: the workflow's Choice tests whether it is present.
handler = step_handler(redeploy_vm, model=UpdateStepInput, exclude_none=True)
