"""The PowerLab steps: Stop VM, Start VM, Restart VM, Wait Until Restarted, Start Lab,
Mark Stopped, Mark Started, Mark Failed. The state names its step; the logic is
:mod:`ads.power_steps`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from ads import power_steps, steps
from functions.step_handler import step_handler
from functions.step_input import StepInput

PowerStep = Literal[
    "stop_vm",
    "start_vm",
    "restart_vm",
    "wait_restarted",
    "start_lab",
    "mark_stopped",
    "mark_started",
    "mark_failed",
]


class CaughtError(BaseModel):
    """A caught error as Step Functions passes it on (``$.error``)."""

    model_config = ConfigDict(extra="ignore")

    Error: str = "Error"
    Cause: str | None = None


class PowerStepInput(StepInput):
    step: PowerStep
    failed_step: str | None = None
    error: CaughtError | None = None


def power_vm(request: PowerStepInput, deps: steps.StepDependencies) -> power_steps.PowerStepResult:
    lab_id, repository, provider = request.lab_id, deps.repository, deps.provider
    if request.step == "stop_vm":
        return power_steps.stop_vm(lab_id, repository, provider)
    if request.step == "start_vm":
        return power_steps.start_vm(lab_id, repository, provider)
    if request.step == "restart_vm":
        return power_steps.restart_vm(
            lab_id, repository, provider, execution_id=request.execution_id
        )
    if request.step == "wait_restarted":
        return power_steps.wait_restarted(
            lab_id, repository, provider, timeout_s=deps.config.health_timeout_s
        )
    if request.step == "start_lab":
        return power_steps.start_lab(
            lab_id, repository, provider, execution_id=request.execution_id
        )
    if request.step == "mark_stopped":
        return power_steps.mark_stopped(lab_id, repository, deps.publisher)
    if request.step == "mark_started":
        return power_steps.mark_started(lab_id, repository, deps.publisher)
    return power_steps.mark_failed(
        lab_id,
        repository,
        deps.publisher,
        failed_step=request.failed_step or "power operation",
        error=request.error.model_dump() if request.error else None,
    )


# A cause only where there is one: the workflow's Choice tests whether it is present.
handler = step_handler(power_vm, model=PowerStepInput, exclude_none=True)
