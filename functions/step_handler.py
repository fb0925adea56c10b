"""The one shape of a workflow step Lambda.

A step handler module names its logic and wraps it::

    def create_vm(request: StepInput, deps: StepDependencies) -> CreateVmResult: ...

    handler = step_handler(create_vm)

:func:`step_handler` does everything else the same way for every step: the Lambda
context and the correlation ids (``lab_id``, ``execution_id``, the latter also as the
correlation id) on every log line of the invocation, the input validated at the
boundary, the dependencies built once per configuration, the metrics the step counted
flushed when it ends (raised or not), and a throttle botocore gave up on raised as
``ProviderThrottled`` for the state machine to retry. The steps do not trace with the X-Ray
SDK (see :mod:`ads.tracing`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from ads import steps
from ads.config import get_config
from ads.observability import lambda_context_keys, logger, publish_metrics
from ads.providers.throttling import throttle_becomes_retry
from functions.step_input import StepInput

Input = TypeVar("Input", bound=StepInput)
StepLogic = Callable[[Input, steps.StepDependencies], BaseModel]
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def step_handler(
    logic: StepLogic[Input],
    *,
    model: type[Input] = StepInput,  # type: ignore[assignment]
    exclude_none: bool = False,
) -> LambdaHandler:
    """The Lambda handler running ``logic`` on the state input parsed as ``model``.

    ``exclude_none`` leaves unset fields out of the result, for a workflow that tests
    whether a field is present.
    """

    @functools.wraps(logic)
    def run(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
        request = model.model_validate(event)
        # Per thread, and gone when the step ends: the local control plane runs several
        # steps at once in one process, and no line may carry another lab's ids.
        logger.thread_safe_append_keys(
            lab_id=request.lab_id,
            execution_id=request.execution_id,
            correlation_id=request.execution_id,
        )
        try:
            with throttle_becomes_retry(logic.__name__):
                result = logic(request, steps.dependencies_for(get_config()))
            return result.model_dump(mode="json", exclude_none=exclude_none)
        finally:
            logger.thread_safe_clear_keys()

    return lambda_context_keys(publish_metrics(run))
