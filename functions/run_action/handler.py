"""The ActionLab steps: Run Action, Wait For Action, Record Action. The state names its
step; the logic is :mod:`ads.action_steps`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ads import action_steps, steps
from functions.step_handler import step_handler
from functions.step_input import StepInput

ActionStep = Literal["run_action", "wait_action", "record_action"]


class CaughtError(BaseModel):
    """A caught error as Step Functions passes it on (``$.error``)."""

    model_config = ConfigDict(extra="ignore")

    Error: str = "Error"
    Cause: str | None = None


class ActionStepInput(StepInput):
    step: ActionStep
    # Record Action: Wait For Action's result, or the failed step and its caught error.
    outcome: dict[str, Any] | None = None
    failed_step: str | None = None
    error: CaughtError | None = None


def run_action(
    request: ActionStepInput, deps: steps.StepDependencies
) -> action_steps.ActionStepResult:
    lab_id, repository, provider = request.lab_id, deps.repository, deps.provider
    if request.step == "run_action":
        return action_steps.run_action(
            lab_id,
            repository,
            provider,
            execution_id=request.execution_id,
            publisher=deps.publisher,
        )
    if request.step == "wait_action":
        return action_steps.wait_action(lab_id, repository, provider)
    return action_steps.record_action(
        lab_id,
        repository,
        outcome=request.outcome,
        failed_step=request.failed_step,
        error=request.error.model_dump() if request.error else None,
        publisher=deps.publisher,
    )


# A field only where there is one: the workflow's Choice tests whether it is present.
handler = step_handler(run_action, model=ActionStepInput, exclude_none=True)
