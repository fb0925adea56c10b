"""Reading labs: a caller's page of labs and one lab's public view.

An admin (``ADS_ADMIN_PRINCIPALS``) sees every lab; anyone else sees their own, then the
labs assigned to them as a cohort's member (:mod:`ads.cohorts`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ads.api_models import LabPage, LabSummary, LabView
from ads.deployment_context import DeploymentContext, is_admin, readable_record, require_caller
from ads.errors import FieldProblem, InvalidInputError
from ads.executions import console_url
from ads.identity import principal_matches
from ads.lab.accrual import accrued
from ads.lab.cost import lab_cost
from ads.lab_record import LabStatus, utc_now
from ads.record_projection import LAB_SUMMARY, LAB_VIEW
from ads.source_checks import found

MAX_PAGE = 100
# A listing's token once the owned labs are all listed: the assigned ones follow.
ASSIGNED_TOKEN = "assigned."


def _statuses(value: str | list[str] | None) -> list[LabStatus]:
    if not value:
        return []
    items = value if isinstance(value, list) else [value]
    names = [part.strip().upper() for item in items for part in item.split(",") if part.strip()]
    wrong = [n for n in names if n not in LabStatus.__members__]
    if wrong:
        raise InvalidInputError(
            FieldProblem(
                "status", found(",".join(wrong)), "comma-separated: " + ", ".join(LabStatus)
            ),
            subject="query",
        )
    return [LabStatus(n) for n in names]


def list_labs(
    ctx: DeploymentContext,
    *,
    caller: str,
    status: str | list[str] | None = None,
    limit: int = 20,
    next_token: str | None = None,
) -> dict[str, Any]:
    """The caller's labs, newest first (an admin sees every lab)."""
    require_caller(caller)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(
            FieldProblem("limit", str(limit), f"an integer from 1 to {MAX_PAGE}"), subject="query"
        )
    statuses = _statuses(status)
    # A summary's attributes only: a page of whole records is mostly labspecs and plans.
    ctx = replace(ctx, repository=ctx.repository.projected(LAB_SUMMARY))
    if is_admin(caller, ctx.config):
        records, token = ctx.repository.list_all(
            status=statuses, limit=limit, next_token=next_token
        )
    else:
        records, token = _owned_then_assigned(ctx, caller, statuses, limit, next_token)
    labs = [LabSummary.model_validate(r.model_dump(mode="json")) for r in records]
    return LabPage(labs=labs, next_token=token).model_dump(mode="json")


def _owned_then_assigned(
    ctx: DeploymentContext,
    caller: str,
    statuses: list[LabStatus],
    limit: int,
    next_token: str | None,
) -> tuple[list[Any], str | None]:
    """The caller's own labs, newest first, then those assigned to them, newest first;
    one token walks both (``assigned.`` marks the second part)."""
    records: list[Any] = []
    token: str | None = next_token
    if not (next_token or "").startswith(ASSIGNED_TOKEN):
        records, token = ctx.repository.list_for_owner(
            caller, status=statuses, limit=limit, next_token=next_token
        )
        if token:
            return records, token
        token = ASSIGNED_TOKEN
        if len(records) >= limit:
            return records, token
    inner = (token or "")[len(ASSIGNED_TOKEN) :] or None
    assigned, after = ctx.repository.list_for_assignee(
        caller, status=statuses, limit=limit - len(records), next_token=inner
    )
    # A lab the caller owns and is assigned to is listed once (listed with the owned ones:
    # the caller's own, and for a session its role's).
    records.extend(r for r in assigned if not principal_matches(caller, r.owner))
    return records, ASSIGNED_TOKEN + after if after else None


def get_lab(ctx: DeploymentContext, lab_id: str, *, caller: str) -> dict[str, Any]:
    """The lab record's public view, with links to its executions in the console."""
    viewing = replace(ctx, repository=ctx.repository.projected(LAB_VIEW))
    record = readable_record(viewing, lab_id, caller, assigned=True)
    view = LabView.model_validate(
        dict(
            record.public_view(),
            console_url=console_url(record.execution_arn),
            destroy_console_url=console_url(record.destroy_execution_arn),
            cost=lab_cost(record.plan, record.status.value) if record.plan else None,
            accrued_cost=accrued(
                record.plan, [(c.status.value, c.at) for c in record.status_history], utc_now()
            )
            if record.plan
            else None,
        )
    )
    return view.model_dump(mode="json")
