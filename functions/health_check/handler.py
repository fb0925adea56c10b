"""Check Health: GET the agent's /health; HealthCheckPending until it answers 200 (a lab
of several VMs: every VM's agent). Check VM Health (``vm_name``): that VM's agent.
DeployLab's Check Health (``mark_ready``) records READY once its lab of one VM is healthy."""

from __future__ import annotations

from ads import cluster_steps, steps
from ads.step_results import HealthCheckResult
from functions.step_handler import step_handler
from functions.step_input import StepInput


class HealthCheckInput(StepInput):
    # DeployLab: a healthy lab of one VM moves to READY in this step (ads.steps.health_check).
    mark_ready: bool = False


def health_check(request: HealthCheckInput, deps: steps.StepDependencies) -> HealthCheckResult:
    if request.vm_name:
        return cluster_steps.check_vm_health(
            request.lab_id,
            request.vm_name,
            deps.repository,
            deps.provider,
            timeout_s=deps.config.health_timeout_s,
        )
    return steps.health_check(
        request.lab_id,
        deps.repository,
        deps.provider,
        timeout_s=deps.config.health_timeout_s,
        mark_ready=request.mark_ready,
    )


handler = step_handler(health_check, model=HealthCheckInput)
