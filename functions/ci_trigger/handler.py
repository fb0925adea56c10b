"""CI entry: EventBridge ``ads.ci`` / ``Lab Deployment Requested`` events request a deployment.

The event's detail is a ``POST /labs`` body plus ``requested_by`` and an optional
``idempotency_key``; it goes through the same :func:`ads.deployments.request_deployment`
as the REST API. The idempotency key defaults to the event id, so EventBridge's
at-least-once delivery deploys once.

Owner rule: only what AWS asserts counts. The events arrive on the CI bus, which admits
only the configured CI principals; EventBridge sets the event's ``account`` to the
sender's account, which must be one of theirs (``ADS_CI_ACCOUNTS``). The lab is owned
by the CI role (``ADS_CI_OWNER_ARN``; without it, the role ``ADS_CI_ROLE_NAME`` of the
event's account). ``detail.requested_by`` is anyone's to write, so it is kept in the
status history as information and never decides the owner.

An event that can never succeed (invalid detail, bad labspec, a foreign account) is
logged with its field problems and answered ``{"accepted": false, "problems": [...]}``
without raising: raising would only make Lambda retry it. A Step Functions outage does
raise, so the asynchronous invocation is retried, the same idempotency key keeps it to
one lab, and what still fails reaches the dead-letter queue.

No one waits on this asynchronous invocation, so it does not trace with the X-Ray SDK
(see :mod:`ads.tracing`); Lambda's active tracing still records it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ads import deployments
from ads.api_models import CiDeploymentRequest, field_problems
from ads.built_once import built_once
from ads.config import AdsConfig, get_config
from ads.errors import AdsError
from ads.observability import logger
from functions.ci_trigger.rejections import EventRejected, parse_detail, refusal, rejected

SOURCE = "ads.ci"
DETAIL_TYPE = "Lab Deployment Requested"
# An update in place of a lab the CI role owns (ads.lab_updates): detail {lab_id, ref, labspec?}.
UPDATE_DETAIL_TYPE = "Lab Update Requested"
# A lab for every member of a class (ads.cohorts): detail is a POST /cohorts body.
COHORT_DETAIL_TYPE = "Cohort Deployment Requested"
DETAIL_TYPES = (DETAIL_TYPE, UPDATE_DETAIL_TYPE, COHORT_DETAIL_TYPE)

_config: AdsConfig = get_config()


class CiEvent(BaseModel):
    """The EventBridge envelope (only the fields ADS reads)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1)
    source: str
    detail_type: str = Field(alias="detail-type")
    account: str = Field(pattern=r"^\d{12}$")
    detail: dict[str, Any]


def deployment_context() -> deployments.DeploymentContext:
    # reset_config() (tests, the local control plane) yields a new config: a new context.
    return _context_for(get_config())


@built_once(maxsize=4)
def _context_for(config: AdsConfig) -> deployments.DeploymentContext:
    return deployments.DeploymentContext.from_config(config)


def ci_owner(account: str, config: AdsConfig) -> str:
    """The owner of a lab a CI event requested: the CI role, never the event's say-so."""
    if config.ci_owner_arn:
        return config.ci_owner_arn
    return f"arn:{_partition(config.region)}:iam::{account}:role/{config.ci_role_name}"


@built_once(maxsize=8)
def _partition(region: str) -> str:
    # botocore's endpoint data knows the partitions (aws, aws-cn, aws-us-gov, ...).
    import boto3

    return boto3.session.Session().get_partition_for_region(region)


def handle_ci_event(ctx: deployments.DeploymentContext, event: dict[str, Any]) -> dict[str, Any]:
    try:
        envelope = CiEvent.model_validate(event)
    except ValidationError as exc:
        problems = [p.model_dump() for p in field_problems(exc.errors())]
        return rejected(problems, event.get("id"), "not an EventBridge event")
    if envelope.source != SOURCE or envelope.detail_type not in DETAIL_TYPES:
        found = f"{envelope.source} / {envelope.detail_type}"
        allowed = f"{SOURCE} / {', '.join(DETAIL_TYPES)}"
        problem = {"path": "source", "found": found, "allowed": allowed}
        return rejected([problem], envelope.id, "not a deployment or update request")
    admitted = ctx.config.ci_accounts
    if admitted and envelope.account not in admitted:
        problem = {
            "path": "account",
            "found": repr(envelope.account),
            "allowed": f"an account of the configured CI principals: {', '.join(admitted)}",
        }
        return rejected([problem], envelope.id, "not from a CI account")
    if envelope.detail_type == UPDATE_DETAIL_TYPE:
        from functions.ci_trigger.update_event import handle_update_event

        return handle_update_event(
            ctx, envelope.id, envelope.detail, ci_owner(envelope.account, ctx.config)
        )
    if envelope.detail_type == COHORT_DETAIL_TYPE:
        from functions.ci_trigger.cohort_event import handle_cohort_event

        return handle_cohort_event(
            ctx, envelope.id, envelope.detail, ci_owner(envelope.account, ctx.config)
        )
    try:
        request = parse_detail(CiDeploymentRequest, envelope.detail, envelope.id)
    except EventRejected as rejection:
        return rejection.answer

    owner = ci_owner(envelope.account, ctx.config)
    key = request.idempotency_key or envelope.id
    try:
        answer = deployments.request_deployment(
            ctx,
            request,
            caller=owner,
            requested_by="ci",
            requested_via=request.requested_by,
            idempotency_key=key,
        )
    except deployments.RequestInProgressError as exc:
        # A concurrent delivery of the same event is creating the lab right now.
        logger.info("CI event already being handled", event_id=envelope.id)
        return {"accepted": True, "lab_id": exc.details.get("lab_id"), "idempotent_replay": True}
    except AdsError as exc:
        return refusal(exc, envelope.id)
    logger.info(
        "CI deployment requested",
        event_id=envelope.id,
        lab_id=answer["lab_id"],
        owner=owner,
        replay=bool(answer.get("idempotent_replay")),
    )
    return {
        "accepted": True,
        "lab_id": answer["lab_id"],
        "owner": owner,
        "execution_arn": answer.get("execution_arn"),
        "console_url": answer.get("console_url"),
        "idempotent_replay": bool(answer.get("idempotent_replay")),
        "warnings": answer.get("warnings", []),
    }


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    # Per thread and gone when the event is handled, as in the api handler:
    # set_correlation_id would write the Logger's shared keys, and every later line of
    # the process (the local plane's other handlers included) would carry this event's id.
    logger.thread_safe_clear_keys()
    if isinstance(event, dict) and event.get("id"):
        logger.thread_safe_append_keys(correlation_id=str(event["id"]))
    try:
        return handle_ci_event(deployment_context(), event)
    finally:
        logger.thread_safe_clear_keys()
