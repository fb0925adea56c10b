"""Check Health: GET the agent's /health; HealthCheckPending until it answers 200."""

from __future__ import annotations

from ads import steps
from ads.step_results import HealthCheckResult
from functions.step_handler import step_handler
from functions.step_input import StepInput


def health_check(request: StepInput, deps: steps.StepDependencies) -> HealthCheckResult:
    return steps.health_check(
        request.lab_id,
        deps.repository,
        deps.provider,
        timeout_s=deps.config.health_timeout_s,
    )


handler = step_handler(health_check)
