"""Wait Until Running: raise VmNotReady until the VM runs (and, on EC2, its SSM agent is online)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ads import steps
from ads.config import get_config
from ads.observability import logger, publish_metrics
from functions.step_input import StepInput


@logger.inject_lambda_context
@publish_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = StepInput.model_validate(event)
    logger.append_keys(lab_id=request.lab_id, execution_id=request.execution_id)
    config = get_config()
    deps = steps.dependencies_for(config)
    result = steps.wait_running(request.lab_id, deps.repository, deps.provider, config)
    return result.model_dump(mode="json")
