"""The RedeployLab steps: Start Update, Wait For Update, Check Health, Record Update. The
state names its step; the logic is :mod:`ads.update_steps`. A lab lost in an update goes
through DeployLab's own destroy_vm and record_status."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ads import steps, update_steps
from functions.step_handler import step_handler
from functions.step_input import StepInput

UpdateStep = Literal["start_update", "wait_update", "check_health", "record_update"]


class UpdateStepInput(StepInput):
    step: UpdateStep
    # Record Update: the workflow's whole state (the results and caught errors so far).
    state: dict[str, Any] = Field(default_factory=dict)


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
    return update_steps.record_update(lab_id, repository, deps.publisher, state=request.state)


# A field only where there is one: the workflow's Choice tests whether it is present.
handler = step_handler(redeploy_vm, model=UpdateStepInput, exclude_none=True)
