"""Wait Until Running: raise VmNotReady until the VM runs (and, on EC2, its SSM agent is
online), and fail once the boot deadline has passed (see :mod:`ads.boot_wait`); with
``vm_name``, that VM of a lab of several VMs."""

from __future__ import annotations

from ads import cluster_steps, steps
from ads.boot_wait import WaitRunningOutput, wait_running_within
from functions.step_handler import step_handler
from functions.step_input import StepInput


def wait_running(request: StepInput, deps: steps.StepDependencies) -> WaitRunningOutput:
    if request.vm_name:
        return cluster_steps.wait_running(
            request.lab_id,
            request.vm_name,
            deps.repository,
            deps.provider,
            launch_grace_s=deps.config.launch_grace_s,
            boot_deadline_s=deps.config.boot_deadline_s,
            init_poll_s=deps.config.init_poll_s,
        )
    return wait_running_within(
        request.lab_id,
        deps.repository,
        deps.provider,
        launch_grace_s=deps.config.launch_grace_s,
        boot_deadline_s=deps.config.boot_deadline_s,
        init_poll_s=deps.config.init_poll_s,
    )


handler = step_handler(wait_running)
