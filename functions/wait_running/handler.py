"""Wait Until Running: raise VmNotReady until the VM runs (and, on EC2, its SSM agent is online)."""

from __future__ import annotations

from ads import steps
from ads.step_results import WaitRunningResult
from functions.step_handler import step_handler
from functions.step_input import StepInput


def wait_running(request: StepInput, deps: steps.StepDependencies) -> WaitRunningResult:
    return steps.wait_running(
        request.lab_id,
        deps.repository,
        deps.provider,
        launch_grace_s=deps.config.launch_grace_s,
    )


handler = step_handler(wait_running)
