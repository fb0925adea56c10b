"""The sweep's Lambda: one sweep per scheduled event, or per invocation of the admin route.

Invoked by the EventBridge schedule on AWS (it applies: ``{"apply": true}`` is the
schedule's input) and by the api Lambda for ``GET /sweep`` (a report) and ``POST /sweep``
(apply); locally by the plane's timer. The logic is :mod:`ads.sweep`; the report is the
answer (and each action a log line and an event).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from ads.built_once import built_once
from ads.config import AdsConfig, get_config
from ads.observability import lambda_context_keys
from ads.sweep import Sweep


class SweepEvent(BaseModel):
    """``apply`` false reports only; the schedule's event (EventBridge's fields) is ignored."""

    model_config = ConfigDict(extra="ignore")

    apply: bool = False


@built_once(maxsize=4)
def _sweep(config: AdsConfig) -> Sweep:
    from ads.sweep_wiring import sweep_for

    return sweep_for(config)


@lambda_context_keys
def handler(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
    request = SweepEvent.model_validate(event or {})
    return _sweep(get_config()).run(apply=request.apply).model_dump(mode="json")
