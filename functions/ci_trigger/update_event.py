"""CI ``ads.ci`` / ``Lab Update Requested``: update a lab the CI role owns, in place.

The detail names the lab by ``lab_id`` with the ``ref`` to deploy (and optionally a new
``labspec``), as ``POST /labs/{lab_id}/redeploy`` does; it goes through the same
:func:`ads.lab_updates.request_update`, as the CI role: a lab someone else owns does not
exist for it (404, rejected). A lab that is not READY (another update running: a re-sent
event meets its own update) is rejected with its status, never raised, so Lambda does not
retry it; a Step Functions outage raises, and the asynchronous invocation is retried.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from ads.deployment_context import DeploymentContext
from ads.errors import AdsError
from ads.lab_updates import RedeployRequest, request_update
from ads.observability import logger
from functions.ci_trigger.rejections import EventRejected, parse_detail, refusal


class CiUpdateRequest(RedeployRequest):
    """Detail of a ``Lab Update Requested`` event."""

    model_config = ConfigDict(extra="forbid")

    lab_id: str = Field(min_length=1, max_length=64)
    requested_by: str | None = Field(default=None, max_length=512)


def handle_update_event(
    ctx: DeploymentContext, event_id: str, detail: dict[str, Any], owner: str
) -> dict[str, Any]:
    try:
        request = parse_detail(CiUpdateRequest, detail, event_id)
    except EventRejected as rejection:
        return rejection.answer
    body = RedeployRequest(ref=request.ref, labspec=request.labspec)
    try:
        answer = request_update(ctx, request.lab_id, body, caller=owner)
    except AdsError as exc:
        return refusal(exc, event_id)
    logger.info("CI update requested", event_id=event_id, lab_id=request.lab_id, ref=request.ref)
    return {
        "accepted": True,
        "lab_id": request.lab_id,
        "owner": owner,
        "ref": request.ref,
        "execution_arn": answer.get("execution_arn"),
        "console_url": answer.get("console_url"),
    }
