"""Create VM: create the lab's VM from its plan and record it (REQUESTED -> PROVISIONING)."""

from __future__ import annotations

from ads import steps
from ads.step_results import CreateVmResult
from functions.step_handler import step_handler
from functions.step_input import StepInput


def create_vm(request: StepInput, deps: steps.StepDependencies) -> CreateVmResult:
    return steps.create_vm(request.lab_id, deps.repository, deps.provider)


handler = step_handler(create_vm)
