"""CI ``ads.ci`` / ``Cohort Deployment Requested``: a lab for every member of a class.

The detail is a ``POST /cohorts`` body (labspec, source, members, lease, course, options)
plus ``requested_by`` and an optional ``idempotency_key``; it goes through the same
:func:`ads.cohorts.request_cohort` as the REST API, as the CI role. The idempotency key
defaults to the event id, so a redelivered event adds no member twice (a retry of the
same key adds only the members without a lab). An event that can never succeed (invalid
detail, a bad member, a quota) is answered ``{"accepted": false, ...}`` with its problems
under ``detail.``, never raised; a Step Functions outage raises, so Lambda retries it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from ads.cohort_model import CohortRequest
from ads.cohorts import request_cohort
from ads.deployment_context import DeploymentContext
from ads.deployments import RequestInProgressError
from ads.errors import AdsError
from ads.observability import logger
from functions.ci_trigger.rejections import EventRejected, parse_detail, refusal


class CiCohortRequest(CohortRequest):
    """Detail of a ``Cohort Deployment Requested`` event."""

    model_config = ConfigDict(extra="forbid")

    requested_by: str | None = Field(default=None, max_length=512)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=128)


def handle_cohort_event(
    ctx: DeploymentContext, event_id: str, detail: dict[str, Any], owner: str
) -> dict[str, Any]:
    try:
        request = parse_detail(CiCohortRequest, detail, event_id)
    except EventRejected as rejection:
        return rejection.answer
    body = CohortRequest.model_validate(
        request.model_dump(exclude={"requested_by", "idempotency_key"}, exclude_none=True)
    )
    key = request.idempotency_key or event_id
    try:
        status, answer = request_cohort(
            ctx, body, caller=owner, requested_by="ci", idempotency_key=key
        )
    except RequestInProgressError as exc:
        # A concurrent delivery of the same event is writing the cohort right now.
        logger.info("CI event already being handled", event_id=event_id)
        return {
            "accepted": True,
            "cohort_id": exc.details.get("cohort_id"),
            "idempotent_replay": True,
        }
    except AdsError as exc:
        return refusal(exc, event_id)
    logger.info(
        "CI cohort requested",
        event_id=event_id,
        cohort_id=answer.get("cohort_id"),
        owner=owner,
        added=len(answer.get("added", [])),
        replay=bool(answer.get("idempotent_replay")),
        requested_via=request.requested_by,
    )
    if status == 200:  # dry_run: the plan only
        return {"accepted": True, "plan": answer}
    return {
        "accepted": True,
        "cohort_id": answer["cohort_id"],
        "owner": owner,
        "added": answer.get("added", []),
        "counts": answer.get("counts", {}),
        "execution_arns": answer.get("execution_arns", []),
        "idempotent_replay": bool(answer.get("idempotent_replay")),
    }
