"""Step Callback: a Run Command invocation ended; complete the workflow task waiting for it.

EventBridge delivers SSM's "EC2 Command Invocation Status-change Notification" for the
terminal statuses (the rule in ``cdk_app/workflow_construct.py``); the local plane
delivers the same event when a local install command ends. The event only says which
command to look at: the outcome is read from the provider (see :mod:`ads.init_wait`).
A command no workflow waits for, or whose wait has ended, is ignored.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from ads.config import get_config
from ads.init_wait import complete_from_event, wait_dependencies_for
from ads.observability import lambda_context_keys, logger, publish_metrics

DETAIL_TYPE = "EC2 Command Invocation Status-change Notification"
# The statuses after which a Run Command invocation changes no more.
TERMINAL_STATUSES = ("Success", "Failed", "TimedOut", "Cancelled", "Undeliverable", "Terminated")


class CommandDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    command_id: str = Field(alias="command-id", min_length=1, max_length=128)
    instance_id: str = Field(alias="instance-id", min_length=1, max_length=128)
    status: str = Field(max_length=64)


class CommandStatusEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    detail_type: str = Field(alias="detail-type")
    detail: CommandDetail


@lambda_context_keys
@publish_metrics
def handler(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
    parsed = CommandStatusEvent.model_validate(event)
    detail = parsed.detail
    if parsed.detail_type != DETAIL_TYPE or detail.status not in TERMINAL_STATUSES:
        logger.info(
            "not a terminal command status", detail_type=parsed.detail_type, status=detail.status
        )
        return {"outcome": "ignored", "command_id": detail.command_id}
    deps = wait_dependencies_for(get_config())
    result = complete_from_event(detail.instance_id, detail.command_id, deps)
    logger.info(
        "command status event handled",
        outcome=result.outcome,
        lab_id=result.lab_id,
        command_id=detail.command_id,
        status=detail.status,
    )
    return result.model_dump(mode="json")
