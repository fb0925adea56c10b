"""The health watch's Lambda: one run over the READY and DEGRADED labs per scheduled event.

Invoked by the EventBridge schedule on AWS and by the local plane's timer; the logic is
:mod:`ads.health_watch`. The run keeps within the invocation's remaining time (less a
margin), so a watch with many labs ends with a report of the labs it did not reach
instead of a timeout. Its report is the answer (and a log line).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from ads.built_once import built_once
from ads.config import AdsConfig, get_config
from ads.health_watch import HealthWatch
from ads.observability import lambda_context_keys

# Seconds kept back from the invocation's remaining time (logs, the answer, cold paths).
TIME_MARGIN_S = 5.0


class ScheduledEvent(BaseModel):
    """The schedule's event (EventBridge's ``Scheduled Event``); ADS reads nothing of it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str | None = None


@built_once(maxsize=4)
def _watch(config: AdsConfig) -> HealthWatch:
    from ads.deployment_context import DeploymentContext
    from ads.steps import dependencies_for
    from ads.watch_recovery import health_watch_for

    return health_watch_for(
        DeploymentContext.from_config(config), dependencies_for(config).publisher
    )


@lambda_context_keys
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ScheduledEvent.model_validate(event or {})
    budget = context.get_remaining_time_in_millis() / 1000 - TIME_MARGIN_S
    return _watch(get_config()).run(time_budget_s=budget).model_dump(mode="json")
