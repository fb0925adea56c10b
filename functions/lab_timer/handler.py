"""The lab_timer Lambda: what a lab's EventBridge Scheduler schedule does when it fires.

Scheduler invokes it (through the Scheduler role, which may invoke this function only)
with the schedule's input, ``{"lab_id", "action", "expires_at"?}``; the local plane's
timer invokes it the same way. The logic is :mod:`ads.lab_timers`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ads.built_once import built_once
from ads.config import AdsConfig, get_config
from ads.lab_timers import TimerEvent, run_timer
from ads.observability import lambda_context_keys, logger


@built_once(maxsize=4)
def _dependencies(config: AdsConfig) -> tuple[Any, Any, Any]:
    from ads.deployment_context import DeploymentContext
    from ads.lab_schedules import schedules_for
    from ads.steps import dependencies_for

    return (
        DeploymentContext.from_config(config),
        dependencies_for(config).publisher,
        schedules_for(config),
    )


@lambda_context_keys
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    request = TimerEvent.model_validate(event or {})
    # Per thread: the local plane's timer fires several labs' schedules at once.
    logger.thread_safe_append_keys(lab_id=request.lab_id)
    try:
        ctx, publisher, schedules = _dependencies(get_config())
        return run_timer(ctx, request, publisher, schedules).model_dump(mode="json")
    finally:
        logger.thread_safe_clear_keys()
