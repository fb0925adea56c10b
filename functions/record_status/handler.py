"""Mark Ready / Mark Failed / Mark Destroyed: store the final status and publish the event."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from ads import steps
from ads.config import get_config
from ads.observability import logger, publish_metrics
from ads.records import LabStatus
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


@logger.inject_lambda_context
@publish_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = RecordStatusInput.model_validate(event)
    logger.append_keys(lab_id=request.lab_id, execution_id=request.execution_id)
    config = get_config()
    deps = steps.dependencies_for(config)
    result = steps.record_status(
        request.lab_id,
        request.status,
        deps.repository,
        deps.publisher,
        config,
        failed_step=request.failed_step,
        error=request.error.model_dump() if request.error else None,
        destroy_error=request.destroy_error.model_dump() if request.destroy_error else None,
        provider=deps.provider,
    )
    # A cause only where there is one: the workflow's Choice tests whether it is present.
    return result.model_dump(mode="json", exclude_none=True)
