"""Requesting and destroying labs: the one code path behind every front door.

The REST API, the CI trigger and therefore the ``ads`` CLI call these functions (and,
through this module, the reads in :mod:`ads.lab_queries` and :mod:`ads.execution_history`), so
a deployment requested from any of them is validated, recorded and started the same
way. The functions know nothing of event shapes; they get their dependencies (the lab
repository, a Step Functions client, the configuration) in a :class:`DeploymentContext`.

Order of writes, so that nothing is ever half-created: the lab record (REQUESTED) is
written before StartExecution, and the execution ARN is stored after it; when
StartExecution fails the record is marked FAILED with the cause and the caller gets a
502/503. A destroy moves the record to DESTROYING before DestroyLab starts.

Neighbours, one concern each: :mod:`ads.source_checks` (is the source usable),
:mod:`ads.executions` (Step Functions calls and their failures),
:mod:`ads.deployment_context` (dependencies and who may see a lab).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from ads import leases, quotas
from ads.api_models import (
    MAX_RECORD_PLAN_BYTES,
    DeploymentAccepted,
    DeploymentOptions,
    DeploymentRequest,
    DestroyAccepted,
    field_problems,
)
from ads.config import AdsConfig
from ads.cost_tags import cost_tags
from ads.deployment_context import (
    DeploymentContext,
    MissingIdentityError,
    is_admin,
    readable_record,
    require_caller,
)
from ads.errors import (
    AdsError,
    FieldProblem,
    IllegalTransitionError,
    InvalidInputError,
    LabspecError,
)
from ads.execution_history import lab_history, summarise_execution, summarise_states
from ads.executions import (
    ENDED_BADLY,
    WorkflowUnavailableError,
    console_url,
    destroy_arn,
    destroy_number,
    execution_status,
    is_already_running,
    start_failure,
)
from ads.lab.cluster import execution_input, pending_vm_entries, record_size_problem
from ads.lab.lab_id import new_lab_id
from ads.lab.labspec import parse_labspec
from ads.lab.plan import PlanOptions, make_plan
from ads.lab_queries import MAX_PAGE, get_lab, list_labs
from ads.lab_record import ALLOWED_FROM, IN_PROGRESS, LabRecord, LabStatus
from ads.observability import logger
from ads.providers.local_sources import requester_from_uid
from ads.source_checks import found, region_problems, source_problems, what_if_region

# The front doors call every lab operation through this module.
__all__ = [
    "MAX_PAGE",
    "DeploymentContext",
    "IdempotencyKeyReusedError",
    "MissingIdentityError",
    "RequestInProgressError",
    "WorkflowUnavailableError",
    "console_url",
    "get_lab",
    "is_admin",
    "lab_history",
    "list_labs",
    "region_problems",
    "request_deployment",
    "request_destroy",
    "request_plan",
    "source_problems",
    "summarise_execution",
    "summarise_states",
    "what_if_region",
]

REQUESTED_BY = ("api", "ci", "cli")


class RequestInProgressError(AdsError):
    """An earlier request with the same idempotency key has not finished yet."""

    code = "request_in_progress"
    http_status = 409


class IdempotencyKeyReusedError(AdsError):
    """The idempotency key already made a lab from a different request."""

    code = "idempotency_key_reused"
    http_status = 409


def _plan_options(options: DeploymentOptions | None, config: AdsConfig) -> PlanOptions:
    options = options or DeploymentOptions()
    values: dict[str, Any] = {
        "os_policy": options.os_policy or config.default_os_policy,
        "region": options.region or config.region,
        "access": config.lab_access,
        "network_egress": config.network_egress,
    }
    if options.arch:
        values["arch"] = options.arch
    try:
        return PlanOptions(**values)
    except ValidationError as exc:
        problems = [
            FieldProblem(p.path, p.found, p.allowed)
            for p in field_problems(exc.errors(), root="options")
        ]
        raise InvalidInputError(problems, subject="request") from exc


def request_plan(
    labspec: dict[str, Any], options: DeploymentOptions | None, config: AdsConfig
) -> dict[str, Any]:
    """The deployment plan, exactly as ``ads plan`` computes it (nothing is created).

    A bad labspec raises :class:`~ads.errors.LabspecError` with the same problems
    ``ads plan`` shows.
    """
    spec = parse_labspec(labspec)
    plan = make_plan(
        spec, _plan_options(options, config), list(config.allowed_instance_types) or None
    )
    answer = plan.model_dump(mode="json")
    oversized = record_size_problem(answer, labspec, MAX_RECORD_PLAN_BYTES)
    if oversized:
        raise LabspecError(oversized)
    note = what_if_region(answer["region"], config)
    if note:
        answer["warnings"] = [*answer.get("warnings", []), note]
    return answer


# -- requesting a deployment ---------------------------------------------------------


def _accepted(record: LabRecord, *, replay: bool) -> dict[str, Any]:
    body = DeploymentAccepted(
        lab_id=record.lab_id,
        status=LabStatus.REQUESTED.value,
        execution_arn=record.execution_arn,
        console_url=console_url(record.execution_arn),
        plan=record.plan,
        warnings=list(record.plan.get("warnings") or []),
        idempotent_replay=replay,
    )
    return body.model_dump(mode="json")


def _same_request(
    record: LabRecord,
    labspec: dict[str, Any],
    source: dict[str, Any] | None,
    options: dict[str, Any],
) -> bool:
    # The record went through DynamoDB; a JSON round trip gives the request the same shape.
    asked = json.loads(json.dumps({"labspec": labspec, "source": source, "options": options}))
    kept = {"labspec": record.labspec, "source": record.source or None, "options": record.options}
    return asked == json.loads(json.dumps(kept, default=str))


def _link_execution(
    ctx: DeploymentContext, record: LabRecord, execution_arn: str, log: dict[str, Any]
) -> LabRecord:
    """The record as answered, naming the started execution (stored only if Step
    Functions named it otherwise than the ARN written with the record)."""
    if execution_arn == record.execution_arn:
        return record
    try:
        ctx.repository.store_fields(record.lab_id, execution_arn=execution_arn)
    except Exception:
        # The workflow runs either way; only the link from the record is missing.
        logger.exception("execution ARN not stored", execution_arn=execution_arn, **log)
    return record.model_copy(update={"execution_arn": execution_arn})


def opt_in_to_images(plan: dict[str, Any], reuse_image: bool | None) -> None:
    """Mark ``plan`` to start from a lab image when asked (POST /labs, POST /cohorts);
    a lab of several VMs is refused: images are kept and reused for one VM only."""
    if not reuse_image:
        return
    if plan.get("cluster"):
        raise InvalidInputError(
            FieldProblem(
                "reuse_image",
                f"true for a lab of {len(plan['cluster']['vms'])} VMs",
                "false: lab images are kept and reused for labs of one VM only",
            ),
            subject="request",
        )
    # Kept in the plan, which Create VM reads (ads.image_steps).
    plan["reuse_image"] = True


def request_deployment(
    ctx: DeploymentContext,
    request: DeploymentRequest,
    *,
    caller: str,
    requested_by: str = "api",
    requested_via: str = "",
    idempotency_key: str | None = None,
    requester_uid: int | None = None,
) -> dict[str, Any]:
    """Validate, plan, record and start a deployment; returns the 202 answer.

    ``caller`` becomes the lab's owner. With an ``idempotency_key``, a repeat by the same
    caller returns the lab the first request made (``idempotent_replay: true``).
    ``requested_via`` (a pipeline's ARN or URL, for instance) is kept in the status history.
    ``requester_uid``: the OS uid the local API's kernel saw ask; a local source is
    checked, and later read at init, with its rights.
    """
    owner = require_caller(caller)
    config = ctx.config
    if not config.deploy_state_machine_arn:
        raise WorkflowUnavailableError(
            "this control plane has no DeployLab state machine configured "
            "(ADS_DEPLOY_STATE_MACHINE_ARN)",
            http_status=503,
        )
    requester = requester_from_uid(requester_uid)
    problems = source_problems(request.source, config, requester) + region_problems(
        request.options, config
    )
    if problems:
        raise InvalidInputError(problems, subject="request")
    terms = leases.terms_for_request(request.lease, request.schedule, owner, config)
    plan = quotas.checked_plan(
        request_plan(request.labspec, request.options, config), owner, config
    )
    limits = quotas.limits_for(owner, config)
    # Checked before anything is written; the transaction that records the lab checks again.
    share = quotas.lab_share(plan, owner, limits) if limits.counted else None
    lab_id = new_lab_id(plan.get("lab_name") or "")
    plan["cost_tags"] = cost_tags(lab_id, plan.get("lab_name") or "", owner, request.course)
    opt_in_to_images(plan, request.reuse_image)
    # Any-valued: a str-valued dict spread into the logger could, for mypy, fill exc_info.
    log: dict[str, Any] = {"lab_id": lab_id, "owner": owner, "requested_by": requested_by}
    options = (request.options or DeploymentOptions()).model_dump(mode="json", exclude_none=True)
    options.setdefault("region", plan.get("region") or config.region)
    source = request.source.model_dump(exclude_none=True) if request.source else None

    if idempotency_key:
        earlier = ctx.repository.idempotency_keys.claim(owner, idempotency_key, lab_id)
        if earlier:
            record = ctx.repository.get(earlier)
            if record is None:
                raise RequestInProgressError(
                    f"a request with the same idempotency key is still being processed "
                    f"(lab {earlier!r}); retry in a moment",
                    lab_id=earlier,
                )
            if not _same_request(record, request.labspec, source, options):
                # Answering with the earlier lab would silently ignore what was asked now.
                raise IdempotencyKeyReusedError(
                    f"Idempotency-Key: found {found(idempotency_key)}, already used for lab "
                    f"{earlier!r} with a different labspec, source or options; allowed: the "
                    "same request again (to get that lab), or a new key",
                    lab_id=earlier,
                )
            logger.info("idempotent replay", lab_id=earlier, owner=owner)
            return _accepted(record, replay=True)

    record = ctx.repository.new_record(
        lab_id,
        owner,
        lab_name=plan.get("lab_name") or "",
        plan=plan,
        labspec=request.labspec,
        source=source,
        options=options,
        requested_by=requested_by if requested_by in REQUESTED_BY else "api",
        requester_uid=requester_uid,
        course=request.course,
        quota_hold={"owner": owner, "hourly_usd": float(share)} if share is not None else None,
        vms=pending_vm_entries(plan),
        # A Standard execution's ARN follows from its machine and name: written with the
        # record, it needs no second write of the whole item once the execution starts.
        execution_arn=destroy_arn(config.deploy_state_machine_arn, lab_id),
        **terms.record_fields(),
    )
    via = f" by {requested_via}" if requested_via else ""
    record.status_history[0].note = f"requested through {requested_by}{via}"
    try:
        ctx.repository.create(record, limits if share is not None else None)
    except Exception:
        if idempotency_key:
            ctx.repository.idempotency_keys.release(owner, idempotency_key)
        raise

    try:
        response = ctx.stepfunctions.start_execution(
            stateMachineArn=config.deploy_state_machine_arn,
            name=lab_id,
            input=json.dumps(execution_input(lab_id, plan)),
        )
    except Exception as exc:
        error = start_failure(exc, "the DeployLab workflow")
        logger.error("deploy execution not started", cause=error.message, **log)
        ctx.repository.transition(
            lab_id,
            LabStatus.FAILED,
            note="workflow not started",
            failed_step="request",
            cause=error.message,
            execution_arn=None,
        )
        # The key must not pin a request that never started: a retry may succeed.
        if idempotency_key:
            ctx.repository.idempotency_keys.release(owner, idempotency_key)
        raise error from exc

    execution_arn = response["executionArn"]
    # The answer is built from the record written above: reading the stored one back
    # (labspec, plan and all) would only return what this request already holds.
    record = _link_execution(ctx, record, execution_arn, log)
    leases.schedule_lab(ctx, record)
    logger.info("deployment requested", execution_arn=execution_arn, **log)
    return _accepted(record, replay=False)


# -- destroying -----------------------------------------------------------------------


def _stop_deploy(ctx: DeploymentContext, record: LabRecord, caller: str) -> None:
    """Stop a deployment still in flight, so DestroyLab does not race its steps."""
    from botocore.exceptions import ClientError

    if not record.execution_arn:
        return
    try:
        if execution_status(ctx, record.execution_arn) != "RUNNING":
            return
        ctx.stepfunctions.stop_execution(
            executionArn=record.execution_arn,
            error="ads.DestroyRequested",
            cause=f"destroy requested by {caller}",
        )
        logger.info("deploy execution stopped", lab_id=record.lab_id)
    except (ClientError, WorkflowUnavailableError):
        # The deploy steps see DESTROYING and fail on their own; DestroyLab still runs.
        logger.exception("deploy execution not stopped", lab_id=record.lab_id)


def request_destroy(
    ctx: DeploymentContext, lab_id: str, *, caller: str, reason: str | None = None
) -> dict[str, Any]:
    """Move the lab to DESTROYING and start DestroyLab; returns the 202 answer.
    ``reason`` (``"lease expired"``) is kept as the record's cause and history note.

    Destroying a lab that is DESTROYED is an illegal state change (409). A lab that is
    DESTROYING with its DestroyLab running (or done) answers the same 202 again, so
    concurrent or retried destroys agree. A DESTROYING lab whose DestroyLab failed or
    never started may be destroyed again: the next execution is numbered after it.
    """
    record = readable_record(ctx, lab_id, caller)
    config = ctx.config
    allowed = [s.value for s in ALLOWED_FROM[LabStatus.DESTROYING]]
    if not config.destroy_state_machine_arn:
        raise WorkflowUnavailableError(
            "this control plane has no DestroyLab state machine configured "
            "(ADS_DESTROY_STATE_MACHINE_ARN)",
            http_status=503,
        )
    if record.status == LabStatus.DESTROYED:
        raise IllegalTransitionError(lab_id, record.status.value, "DESTROYING", allowed)
    previous = destroy_number(lab_id, record.destroy_execution_arn)
    if record.status == LabStatus.DESTROYING:
        running = record.destroy_execution_arn and execution_status(
            ctx, record.destroy_execution_arn
        ) not in (*ENDED_BADLY, "ABSENT")
        if running:
            # A repeat (or a concurrent second request) asks for what is already
            # happening: the same answer, so a retried destroy is never an error.
            return _destroy_accepted(lab_id, record.destroy_execution_arn)
        number = previous + 1 if record.destroy_execution_arn else max(previous, 1)
    else:
        number = previous + 1
        was = record.status
        ctx.repository.transition(
            lab_id,
            LabStatus.DESTROYING,
            note=reason or f"destroy requested by {caller}",
            **({"cause": reason} if reason else {}),
        )
        if was in IN_PROGRESS:
            _stop_deploy(ctx, record, caller)

    name = f"{lab_id}-destroy-{number}"
    try:
        response = ctx.stepfunctions.start_execution(
            stateMachineArn=config.destroy_state_machine_arn,
            name=name,
            input=json.dumps({"lab_id": lab_id}),
        )
        execution_arn = response["executionArn"]
    except Exception as exc:
        if is_already_running(exc):
            # A concurrent destroy of the same lab started it: same answer for both.
            execution_arn = destroy_arn(config.destroy_state_machine_arn, name)
        else:
            error = start_failure(exc, "the DestroyLab workflow")
            logger.error("destroy execution not started", lab_id=lab_id, cause=error.message)
            ctx.repository.store_fields(lab_id, cause=error.message)
            raise error from exc
    ctx.repository.store_fields(lab_id, destroy_execution_arn=execution_arn)
    logger.info("destroy requested", lab_id=lab_id, execution_arn=execution_arn, owner=caller)
    return _destroy_accepted(lab_id, execution_arn)


def _destroy_accepted(lab_id: str, execution_arn: str | None) -> dict[str, Any]:
    return DestroyAccepted(
        lab_id=lab_id,
        status=LabStatus.DESTROYING.value,
        execution_arn=execution_arn,
        console_url=console_url(execution_arn),
    ).model_dump(mode="json")
