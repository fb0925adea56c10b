"""Reading and changing a cohort as a whole: its view, the owner's cohorts, and renewing
or destroying every member's lab (``/cohorts``; requesting one is :mod:`ads.cohorts`).

A cohort exists for its owner and the admins; for anyone else, its members included, it
is absent (404): a member reaches their own lab, never the class list.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ads.cohort_events import publish_cohort_event
from ads.cohort_model import (
    CohortOperation,
    CohortPage,
    CohortRecord,
    CohortSummary,
    CohortView,
    MemberOutcome,
    MemberView,
)
from ads.deployment_context import DeploymentContext, is_admin, require_caller
from ads.errors import AdsError, FieldProblem, IllegalTransitionError, InvalidInputError
from ads.executions import execution_status
from ads.identity import principal_matches
from ads.lab.lab_id import is_valid_lab_id
from ads.lab_queries import MAX_PAGE
from ads.lab_record import LabStatus
from ads.observability import logger

REFUSED = "REFUSED"


class CohortNotFoundError(AdsError):
    code = "cohort_not_found"
    http_status = 404

    def __init__(self, cohort_id: str) -> None:
        super().__init__(f"no cohort with id {cohort_id!r}", cohort_id=cohort_id)


def readable_cohort(ctx: DeploymentContext, cohort_id: str, caller: str) -> CohortRecord:
    """The cohort when ``caller`` owns it or is an admin; otherwise absent (404)."""
    require_caller(caller)
    cohort = ctx.repository.cohorts.get(cohort_id) if is_valid_lab_id(cohort_id) else None
    if cohort is None or not (
        principal_matches(caller, cohort.cohort_owner) or is_admin(caller, ctx.config)
    ):
        raise CohortNotFoundError(cohort_id)
    return cohort


def cohort_view(ctx: DeploymentContext, cohort: CohortRecord) -> dict[str, Any]:
    """The cohort with each member's lab as its record says now."""
    labs = ctx.repository.cohorts.labs(m.lab_id for m in cohort.members if m.lab_id)
    members = []
    for member in cohort.members:
        lab = labs.get(member.lab_id or "")
        if lab is None:
            status = REFUSED if member.state == "refused" else LabStatus.REQUESTED.value
            members.append(
                MemberView(
                    principal=member.principal,
                    name=member.name,
                    lab_id=member.lab_id,
                    status=status,
                    cause=member.cause,
                )
            )
            continue
        members.append(
            MemberView(
                principal=member.principal,
                name=member.name,
                lab_id=lab.lab_id,
                status=lab.status.value,
                endpoint=lab.endpoint,
                app_url=lab.app_url,
                failed_step=lab.failed_step,
                cause=lab.cause,
            )
        )
    hourly = cohort.hourly_usd_per_lab
    live = [m for m in members if m.status not in (REFUSED, "FAILED", "DESTROYED")]
    return CohortView(
        cohort_id=cohort.cohort_id,
        owner=cohort.cohort_owner,
        lab_name=cohort.lab_name,
        course=cohort.course,
        lease=cohort.lease,
        created_at=cohort.created_at,
        members=members,
        counts=dict(Counter(m.status for m in members)),
        hourly_usd_per_lab=hourly,
        total_hourly_usd=round(hourly * len(live), 6) if hourly is not None else None,
        execution_arns=cohort.execution_arns,
    ).model_dump(mode="json")


def get_cohort(ctx: DeploymentContext, cohort_id: str, *, caller: str) -> dict[str, Any]:
    return cohort_view(ctx, readable_cohort(ctx, cohort_id, caller))


def list_cohorts(
    ctx: DeploymentContext, *, caller: str, limit: int = 20, next_token: str | None = None
) -> dict[str, Any]:
    """The caller's cohorts, newest first (an admin sees every cohort)."""
    require_caller(caller)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(
            FieldProblem("limit", str(limit), f"an integer from 1 to {MAX_PAGE}"), subject="query"
        )
    owner = None if is_admin(caller, ctx.config) else caller
    cohorts, token = ctx.repository.cohorts.list(owner, limit=limit, next_token=next_token)
    summaries = [
        CohortSummary(
            cohort_id=c.cohort_id,
            owner=c.cohort_owner,
            lab_name=c.lab_name,
            course=c.course,
            created_at=c.created_at,
            members=len(c.members),
        )
        for c in cohorts
    ]
    return CohortPage(cohorts=summaries, next_token=token).model_dump(mode="json")


def renew_cohort(
    ctx: DeploymentContext, cohort_id: str, duration: str, *, caller: str
) -> dict[str, Any]:
    """Renew every member's lab's lease to ``duration`` from now; a lab that cannot be
    renewed (destroyed, failed) is reported, not an error of the whole request. A lease
    the caller may not have (beyond the maximum) refuses the request before any change."""
    from ads import leases

    cohort = readable_cohort(ctx, cohort_id, caller)
    outcomes: list[MemberOutcome] = []
    for member in cohort.members:
        if not member.lab_id or member.state == "refused":
            outcomes.append(MemberOutcome(principal=member.principal, error="no lab"))
            continue
        try:
            answer = leases.renew_lease(ctx, member.lab_id, duration, caller=caller)
        except IllegalTransitionError as exc:
            outcomes.append(_failed(member.principal, member.lab_id, exc))
            continue
        outcomes.append(
            MemberOutcome(principal=member.principal, lab_id=member.lab_id, status=answer["status"])
        )
    return CohortOperation(cohort_id=cohort_id, operation="renew", members=outcomes).model_dump(
        mode="json"
    )


def destroy_cohort(ctx: DeploymentContext, cohort_id: str, *, caller: str) -> dict[str, Any]:
    """Stop the cohort's deployments still running, then destroy every member's lab (a lab
    already destroyed is reported as such)."""
    from ads.deployments import request_destroy

    cohort = readable_cohort(ctx, cohort_id, caller)
    _stop_rounds(ctx, cohort, caller)
    outcomes: list[MemberOutcome] = []
    for member in cohort.members:
        if not member.lab_id or member.state == "refused":
            outcomes.append(MemberOutcome(principal=member.principal, error="no lab"))
            continue
        try:
            answer = request_destroy(ctx, member.lab_id, caller=caller)
        except (IllegalTransitionError, AdsError) as exc:
            if exc.http_status >= 500:
                raise
            outcomes.append(_failed(member.principal, member.lab_id, exc))
            continue
        outcomes.append(
            MemberOutcome(principal=member.principal, lab_id=member.lab_id, status=answer["status"])
        )
    logger.info("cohort destroy requested", cohort_id=cohort_id, owner=caller)
    publish_cohort_event(ctx.publisher, ctx.repository, "cohort_destroyed", cohort)
    return CohortOperation(cohort_id=cohort_id, operation="destroy", members=outcomes).model_dump(
        mode="json"
    )


def _failed(principal: str, lab_id: str, exc: AdsError) -> MemberOutcome:
    status = exc.details.get("current") if isinstance(exc.details, dict) else None
    return MemberOutcome(principal=principal, lab_id=lab_id, status=status, error=exc.message)


def _stop_rounds(ctx: DeploymentContext, cohort: CohortRecord, caller: str) -> None:
    """Stop the cohort's DeployCohort executions still running, so that no member's
    deployment starts after its lab was destroyed (the labs' own DeployLab are stopped by
    their destroy)."""
    from botocore.exceptions import ClientError

    for arn in cohort.execution_arns:
        try:
            if execution_status(ctx, arn) != "RUNNING":
                continue
            ctx.stepfunctions.stop_execution(
                executionArn=arn, error="ads.DestroyRequested", cause=f"destroy by {caller}"
            )
        except ClientError:
            logger.exception("cohort execution not stopped", cohort_id=cohort.cohort_id)
