"""Cohorts: a lab for every member of a class, in one request (``/cohorts``).

Each member's lab is an ordinary lab (leases, power, actions, destroy, the sweep and cost
all work on it), owned by the requester and *assigned* to the member, who may read it,
run its actions, stop, start and renew it (:mod:`ads.deployment_context`). One DeployCohort
execution (``statemachine/deploy_cohort.asl.json``) starts every new lab's DeployLab
through a Map state paced to EC2's RunInstances rate; a member's failure fails only that
member's lab, whose own workflow destroys its VM.

Order of writes, so that a retry finds what is missing: the quotas are checked for every
new member before anything is written; the cohort's record names each member's lab id;
the labs are written in transactions that count them against the owner's quotas (all of
a transaction or none; a cohort larger than one transaction takes several, and a member a
later one cannot fit is recorded as refused); then the execution starts. A retry of the
request (the same ``Idempotency-Key``) adds only the members without a lab.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from ads import leases, quotas
from ads.api_models import DeploymentOptions, DeploymentRequest, field_problems
from ads.cohort_events import publish_cohort_event
from ads.cohort_members import checked_members
from ads.cohort_model import (
    CohortPlan,
    CohortRecord,
    CohortRequest,
    MemberLab,
)
from ads.cohort_queries import cohort_view as _view
from ads.cost_tags import cost_tags
from ads.deployment_context import DeploymentContext, require_caller
from ads.deployments import (
    IdempotencyKeyReusedError,
    RequestInProgressError,
    opt_in_to_images,
    request_plan,
)
from ads.errors import AdsError, FieldProblem, InvalidInputError
from ads.executions import WorkflowUnavailableError, destroy_arn, is_already_running, start_failure
from ads.lab.cluster import execution_input, pending_vm_entries
from ads.lab.lab_id import new_lab_id
from ads.lab_record import LabRecord, LabStatus
from ads.labs_table import to_dynamo
from ads.observability import logger
from ads.providers.local_sources import requester_from_uid
from ads.quota_usage import MAX_TRANSACTION_ITEMS
from ads.source_checks import found, region_problems, source_problems

# A transaction may carry 4 MB; a lab record holds its labspec (up to 128 KiB) and plan.
MAX_TRANSACTION_BYTES = 3_500_000
COHORT_KEY_PREFIX = "cohort:"


def _lab_request(request: CohortRequest) -> DeploymentRequest:
    """What every member's lab is asked with, under POST /labs' own model and checks
    (the labspec's size, the source, the course)."""
    try:
        return DeploymentRequest(
            labspec=request.labspec,
            source=request.source,
            options=request.options,
            course=request.course,
            lease=request.lease,
        )
    except ValidationError as exc:
        problems = [FieldProblem(p.path, p.found, p.allowed) for p in field_problems(exc.errors())]
        raise InvalidInputError(problems, subject="request") from exc


# -- the plan -------------------------------------------------------------------------


def _quota_fit(
    ctx: DeploymentContext, owner: str, plan: dict[str, Any], count: int
) -> dict[str, Any] | None:
    limits = quotas.limits_for(owner, ctx.config)
    if limits.max_labs is None and limits.max_hourly_usd is None:
        return None
    usage = ctx.repository.quota_usage.usage(owner) if limits.counted else quotas.Usage()
    return quotas.fits(owner, limits, usage, plan, count)


def _cohort_plan(
    ctx: DeploymentContext, plan: dict[str, Any], owner: str, count: int
) -> dict[str, Any]:
    hourly = quotas.lab_hourly_usd(plan)
    return CohortPlan(
        members=count,
        plan=plan,
        hourly_usd_per_lab=float(hourly) if hourly is not None else None,
        total_hourly_usd=float(hourly * count) if hourly is not None else None,
        quota=_quota_fit(ctx, owner, plan, count),
    ).model_dump(mode="json")


# -- requesting a cohort ----------------------------------------------------------------


def request_cohort(
    ctx: DeploymentContext,
    request: CohortRequest,
    *,
    caller: str,
    requested_by: str = "api",
    idempotency_key: str | None = None,
    requester_uid: int | None = None,
) -> tuple[int, dict[str, Any]]:
    """Plan (``dry_run``: 200 and the plan) or request a cohort (202 and its view)."""
    owner = require_caller(caller)
    config = ctx.config
    members = checked_members(request.members, config.cohort_max_members)
    lab_request = _lab_request(request)
    problems = source_problems(
        lab_request.source, config, requester_from_uid(requester_uid)
    ) + region_problems(lab_request.options, config)
    if problems:
        raise InvalidInputError(problems, subject="request")
    terms = leases.terms_for_request(request.lease, None, owner, config)
    plan = quotas.checked_plan(
        request_plan(request.labspec, lab_request.options, config), owner, config
    )
    # Kept in each lab's plan, which Create VM reads (ads.image_steps), as for POST /labs.
    opt_in_to_images(plan, request.reuse_image)
    if request.dry_run:
        return 200, _cohort_plan(ctx, plan, owner, len(members))
    for name, arn in (
        ("DeployLab", config.deploy_state_machine_arn),
        ("DeployCohort", config.cohort_state_machine_arn),
    ):
        if not arn:
            raise WorkflowUnavailableError(
                f"this control plane has no {name} state machine configured", http_status=503
            )
    options = (request.options or DeploymentOptions()).model_dump(mode="json", exclude_none=True)
    options.setdefault("region", plan.get("region") or config.region)
    source = request.source.model_dump(exclude_none=True) if request.source else None
    cohort, replay = _cohort_for(ctx, request, owner, plan, options, source, idempotency_key)
    limits = quotas.limits_for(owner, config)
    share = quotas.lab_share(plan, owner, limits) if limits.counted else None
    missing = _missing_members(ctx, cohort, members)
    if missing and share is not None:
        # The whole cohort up front: nothing is written when it cannot all fit now.
        error = quotas.exceeded(
            owner, limits, ctx.repository.quota_usage.usage(owner), share, len(missing)
        )
        if error is not None:
            if not replay and idempotency_key:
                ctx.repository.idempotency_keys.release(owner, COHORT_KEY_PREFIX + idempotency_key)
            raise error
    added: list[str] = []
    if missing:
        cohort, added = _add_members(
            ctx, cohort, missing, plan, terms, share, limits, (requested_by, requester_uid), replay
        )
    if added:
        publish_cohort_event(
            ctx.publisher, ctx.repository, "cohort_requested", cohort, added=len(added)
        )
    view = _view(ctx, cohort)
    view["added"] = added
    view["idempotent_replay"] = replay
    return 202, view


def _same_request(cohort: CohortRecord, asked: dict[str, Any]) -> bool:
    kept = {
        "labspec": cohort.labspec,
        "source": cohort.source or None,
        "options": cohort.options,
        "lease": cohort.lease,
        "course": cohort.course,
    }
    return json.loads(json.dumps(asked, default=str)) == json.loads(json.dumps(kept, default=str))


def _cohort_for(
    ctx: DeploymentContext,
    request: CohortRequest,
    owner: str,
    plan: dict[str, Any],
    options: dict[str, Any],
    source: dict[str, Any] | None,
    idempotency_key: str | None,
) -> tuple[CohortRecord, bool]:
    """The cohort an earlier request with this key made (and True), or a new one."""
    store = ctx.repository.cohorts
    cohort_id = new_lab_id(f"{plan.get('lab_name') or 'lab'}-cohort")
    if idempotency_key:
        earlier = ctx.repository.idempotency_keys.claim(
            owner, COHORT_KEY_PREFIX + idempotency_key, cohort_id
        )
        if earlier:
            cohort = store.get(earlier)
            if cohort is None:
                raise RequestInProgressError(
                    f"a request with the same idempotency key is still being processed "
                    f"(cohort {earlier!r}); retry in a moment",
                    cohort_id=earlier,
                )
            asked = {
                "labspec": request.labspec,
                "source": source,
                "options": options,
                "lease": request.lease,
                "course": request.course,
            }
            if not _same_request(cohort, asked):
                raise IdempotencyKeyReusedError(
                    f"Idempotency-Key: found {found(idempotency_key)}, already used for cohort "
                    f"{earlier!r} with a different labspec, source, options, lease or course; "
                    "allowed: the same request again (members it lacks are added), or a new key",
                    cohort_id=earlier,
                )
            return cohort, True
    now = store.now()
    cohort = CohortRecord(
        cohort_id=cohort_id,
        cohort_owner=owner,
        created_at=now,
        updated_at=now,
        lab_name=plan.get("lab_name") or "",
        course=request.course,
        lease=request.lease,
        labspec=request.labspec,
        source=source,
        options=options,
        hourly_usd_per_lab=_float(quotas.lab_hourly_usd(plan)),
        version=0,
    )
    return cohort, False


def _float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _missing_members(
    ctx: DeploymentContext, cohort: CohortRecord, members: list[Any]
) -> list[MemberLab]:
    """The members that have no lab yet: new ones, refused ones, and ones whose lab was
    never written (a request that stopped half-way), with the lab id they keep."""
    known = {m.principal: m for m in cohort.members}
    written = ctx.repository.cohorts.labs(m.lab_id for m in cohort.members if m.lab_id)
    missing: list[MemberLab] = []
    for member in members:
        kept = known.get(member.principal)
        if kept is None:
            missing.append(MemberLab(principal=member.principal, name=member.name))
        elif kept.state == "refused" or (kept.lab_id and kept.lab_id not in written):
            missing.append(kept.model_copy(update={"state": "created", "cause": None}))
    return missing


def _add_members(
    ctx: DeploymentContext,
    cohort: CohortRecord,
    missing: list[MemberLab],
    plan: dict[str, Any],
    terms: leases.LabTerms,
    share: Decimal | None,
    limits: quotas.QuotaLimits,
    requester: tuple[str, int | None],
    replay: bool,
) -> tuple[CohortRecord, list[str]]:
    """Name the missing members' labs in the cohort, write the labs, start their round.
    ``requester``: the front door and the local client's uid (local sources are read
    with its rights, as for POST /labs)."""
    store = ctx.repository.cohorts
    round_number = len(cohort.execution_arns) + 1
    lab_name = plan.get("lab_name") or ""
    for member in missing:
        member.lab_id = member.lab_id or new_lab_id(lab_name)
        member.round = round_number
    by_principal = {m.principal: m for m in missing}
    members = [by_principal.pop(m.principal, m) for m in cohort.members]
    members.extend(by_principal.values())
    # The lab ids are named before any lab is written: a retry finds the ones not written.
    cohort = store.save(
        cohort.model_copy(update={"members": members}),
        expected_version=cohort.version if cohort.version else None,
    )
    records = [_lab_record(ctx, cohort, m, plan, terms, share, requester) for m in missing]
    refused, refusal = _write_labs(ctx, records, limits if share is not None else None)
    created = [r for r in records if r.lab_id not in refused]
    for member in cohort.members:
        if member.lab_id in refused:
            member.state, member.cause = "refused", refused[member.lab_id]
    execution_arn = _start_round(ctx, cohort, created, round_number) if created else None
    arns = [*cohort.execution_arns, execution_arn] if execution_arn else cohort.execution_arns
    cohort = store.save(
        cohort.model_copy(update={"execution_arns": arns}), expected_version=cohort.version
    )
    for record in created:
        leases.schedule_lab(ctx, record)
    logger.info(
        "cohort requested",
        cohort_id=cohort.cohort_id,
        owner=cohort.cohort_owner,
        added=len(created),
        refused=len(refused),
        replay=replay,
        execution_arn=execution_arn,
    )
    if not created and refusal is not None:
        # Nothing of this request could be written: its answer is why (the members stay
        # in the cohort as refused, and the same request again retries them).
        raise refusal
    return cohort, [r.assignee or "" for r in created]


def _lab_record(
    ctx: DeploymentContext,
    cohort: CohortRecord,
    member: MemberLab,
    plan: dict[str, Any],
    terms: leases.LabTerms,
    share: Decimal | None,
    requester: tuple[str, int | None],
) -> LabRecord:
    lab_id = str(member.lab_id)
    requested_by, requester_uid = requester
    owner = cohort.cohort_owner
    lab_plan = dict(plan)
    lab_plan["cost_tags"] = cost_tags(lab_id, plan.get("lab_name") or "", owner, cohort.course)
    record = ctx.repository.new_record(
        lab_id,
        owner,
        lab_name=plan.get("lab_name") or "",
        plan=lab_plan,
        labspec=cohort.labspec,
        source=cohort.source,
        options=cohort.options,
        requested_by=requested_by if requested_by in ("api", "ci", "cli") else "api",
        requester_uid=requester_uid,
        course=cohort.course,
        cohort_id=cohort.cohort_id,
        assignee=member.principal,
        assignee_name=member.name,
        quota_hold={"owner": owner, "hourly_usd": float(share)} if share is not None else None,
        vms=pending_vm_entries(plan),
        execution_arn=destroy_arn(ctx.config.deploy_state_machine_arn, lab_id),
        cohort_execution_arn=destroy_arn(
            ctx.config.cohort_state_machine_arn, f"{cohort.cohort_id}-{member.round}"
        ),
        **terms.record_fields(),
    )
    record.status_history[0].note = f"requested for cohort {cohort.cohort_id} ({member.principal})"
    return record


def _chunks(records: list[LabRecord]) -> list[list[tuple[LabRecord, dict[str, Any]]]]:
    """The records in groups one transaction can carry (items and bytes)."""
    chunks: list[list[tuple[LabRecord, dict[str, Any]]]] = [[]]
    size = 0
    for record in records:
        item = to_dynamo(record.model_dump(mode="json", exclude_none=True))
        item_bytes = len(json.dumps(item, default=str))
        full = len(chunks[-1]) >= MAX_TRANSACTION_ITEMS - 1
        if chunks[-1] and (full or size + item_bytes > MAX_TRANSACTION_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append((record, item))
        size += item_bytes
    return [c for c in chunks if c]


def _write_labs(
    ctx: DeploymentContext, records: list[LabRecord], limits: quotas.QuotaLimits | None
) -> tuple[dict[str, str], AdsError | None]:
    """Write the lab records, counted against the quotas when ``limits``; the ids a
    transaction refused (a concurrent request took the room) with why, and the first
    refusal."""
    refused: dict[str, str] = {}
    first: AdsError | None = None
    usage = ctx.repository.quota_usage
    for chunk in _chunks(records):
        try:
            if limits is None:
                for record, _item in chunk:
                    ctx.repository.create(record)
                continue
            hold = chunk[0][0].quota_hold or {}
            usage.create_counted_many(
                [item for _r, item in chunk],
                str(hold["owner"]),
                Decimal(str(hold["hourly_usd"])),
                limits,
            )
        except AdsError as exc:
            logger.info("cohort labs refused", count=len(chunk), cause=exc.message)
            first = first or exc
            refused.update({r.lab_id: exc.message for r, _ in chunk})
    return refused, first


def _start_round(
    ctx: DeploymentContext, cohort: CohortRecord, created: list[LabRecord], round_number: int
) -> str:
    """Start this round's DeployCohort; when it cannot start, its labs are FAILED."""
    machine = ctx.config.cohort_state_machine_arn
    name = f"{cohort.cohort_id}-{round_number}"
    # Each member's DeployLab gets the input a lab of its own would (its VMs, for a lab of
    # several VMs), so the cohort's Map passes it on as it is.
    members = [
        {"lab_id": r.lab_id, "principal": r.assignee, "input": execution_input(r.lab_id, r.plan)}
        for r in created
    ]
    try:
        response = ctx.stepfunctions.start_execution(
            stateMachineArn=machine,
            name=name,
            input=json.dumps({"cohort_id": cohort.cohort_id, "members": members}),
        )
        return str(response["executionArn"])
    except Exception as exc:
        if is_already_running(exc):
            # A retry of a start whose answer was lost: the same round, already running.
            return destroy_arn(machine, name)
        error = start_failure(exc, "the DeployCohort workflow")
        logger.error(
            "cohort execution not started", cohort_id=cohort.cohort_id, cause=error.message
        )
        for record in created:
            ctx.repository.transition(
                record.lab_id,
                LabStatus.FAILED,
                note="workflow not started",
                failed_step="request",
                cause=error.message,
                execution_arn=None,
            )
        raise error from exc
