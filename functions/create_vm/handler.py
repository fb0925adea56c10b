"""Create VM: create the lab's VM from its plan and record it (REQUESTED -> PROVISIONING);
with ``vm_name``, that VM of a lab of several VMs."""

from __future__ import annotations

from ads import cluster_steps, steps
from ads.step_results import CreateVmResult
from functions.step_handler import step_handler
from functions.step_input import StepInput


def create_vm(request: StepInput, deps: steps.StepDependencies) -> CreateVmResult:
    if request.vm_name:
        return cluster_steps.create_vm(
            request.lab_id, request.vm_name, deps.repository, deps.provider
        )
    return steps.create_vm(request.lab_id, deps.repository, deps.provider)


handler = step_handler(create_vm)
