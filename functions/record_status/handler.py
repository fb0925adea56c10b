"""Mark Ready / Mark Failed / Mark Destroyed: store the final status and publish the event."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ads import steps, teardown_steps
from ads.config import get_config
from ads.lab_record import LabStatus
from ads.lab_schedules import schedules_for
from ads.step_results import RecordStatusResult
from functions.step_handler import step_handler
from functions.step_input import StepInput


class StepError(BaseModel):
    """A caught error as Step Functions passes it on (``$.error``)."""

    model_config = ConfigDict(extra="ignore")

    Error: str = "Error"
    Cause: str | None = None


class RecordStatusInput(StepInput):
    model_config = ConfigDict(extra="ignore")

    status: LabStatus
    failed_step: str | None = None
    error: StepError | None = None
    # Set by the deploy workflow when destroying the VM after a failure failed as well.
    destroy_error: StepError | None = None
    # Mark Ready of a lab whose Check Health wrote READY (``$.health.result``): publish.
    ready_recorded: bool = False


def record_status(request: RecordStatusInput, deps: steps.StepDependencies) -> RecordStatusResult:
    return teardown_steps.record_status(
        request.lab_id,
        request.status,
        deps.repository,
        deps.publisher,
        failed_step=request.failed_step,
        error=request.error.model_dump() if request.error else None,
        destroy_error=request.destroy_error.model_dump() if request.destroy_error else None,
        provider=deps.provider,
        schedules=schedules_for(get_config()),
        ready_recorded=request.ready_recorded,
    )


# A cause only where there is one: the workflow's Choice tests whether it is present.
handler = step_handler(record_status, model=RecordStatusInput, exclude_none=True)
