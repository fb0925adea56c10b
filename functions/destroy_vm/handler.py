"""Destroy VM: remove the lab's VM; succeeds when it never existed or is already gone."""

from __future__ import annotations

from ads import steps, teardown_steps
from ads.step_results import DestroyVmResult
from functions.step_handler import step_handler
from functions.step_input import StepInput


def destroy_vm(request: StepInput, deps: steps.StepDependencies) -> DestroyVmResult:
    return teardown_steps.destroy_vm(
        request.lab_id,
        deps.repository,
        deps.provider,
        launch_grace_s=deps.config.launch_grace_s,
    )


handler = step_handler(destroy_vm)
