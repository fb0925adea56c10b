"""Requesting, reading and destroying labs: the one code path behind every front door.

The REST API, the CI trigger and therefore the ``ads`` CLI all call these functions, so
a deployment requested from any of them is validated, recorded and started the same
way. The functions know nothing of event shapes; they get their dependencies (the lab
repository, a Step Functions client, the configuration) in a :class:`DeploymentContext`.

Order of writes, so that nothing is ever half-created: the lab record (REQUESTED) is
written before StartExecution, and the execution ARN is stored after it; when
StartExecution fails the record is marked FAILED with the cause and the caller gets a
502/503. A destroy moves the record to DESTROYING before DestroyLab starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ads import identity
from ads.api_models import (
    DeploymentAccepted,
    DeploymentOptions,
    DeploymentRequest,
    DestroyAccepted,
    ExecutionSummary,
    LabHistory,
    LabPage,
    LabSource,
    LabSummary,
    LabView,
    StateError,
    StateSummary,
    field_problems,
)
from ads.config import AdsConfig
from ads.errors import (
    AdsError,
    FieldProblem,
    IllegalTransitionError,
    InvalidInputError,
    LabNotFoundError,
)
from ads.lab import egress
from ads.lab.lab_id import is_valid_lab_id, new_lab_id
from ads.lab.labspec import parse_labspec
from ads.lab.plan import PlanOptions, make_plan
from ads.observability import logger
from ads.providers.local_sources import SourceReader, local_source_problem
from ads.records import ALLOWED_FROM, IN_PROGRESS, LabRecord, LabRepository, LabStatus, iso

REQUESTED_BY = ("api", "ci", "cli")
MAX_PAGE = 100
# Step Functions keeps up to 25,000 events per execution; a summary needs far fewer and
# the API answer must stay small.
MAX_HISTORY_EVENTS = 2000
MAX_CAUSE_CHARS = 1000
_THROTTLED = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalServerError",
    "ExecutionLimitExceeded",
    "RequestLimitExceeded",
}


class WorkflowUnavailableError(AdsError):
    """Step Functions refused or could not be reached; nothing was left half-created."""

    code = "workflow_unavailable"

    def __init__(self, message: str, *, http_status: int = 502, **details: Any) -> None:
        super().__init__(message, **details)
        self.http_status = http_status


class RequestInProgressError(AdsError):
    """An earlier request with the same idempotency key has not finished yet."""

    code = "request_in_progress"
    http_status = 409


class IdempotencyKeyReusedError(AdsError):
    """The idempotency key already made a lab from a different request."""

    code = "idempotency_key_reused"
    http_status = 409


class MissingIdentityError(AdsError):
    code = "missing_identity"
    http_status = 403

    def __init__(self) -> None:
        super().__init__(
            "the request carries no caller identity; call the API with IAM (SigV4) credentials"
        )


@dataclass(frozen=True)
class DeploymentContext:
    """What the deployment logic needs from the outside world."""

    repository: LabRepository
    stepfunctions: Any  # a boto3 Step Functions client
    config: AdsConfig

    @classmethod
    def from_config(cls, config: AdsConfig) -> DeploymentContext:
        """The real dependencies: the labs table and Step Functions in the configured region."""
        import boto3

        return cls(
            repository=LabRepository.from_name(config.table_name, config.region),
            stepfunctions=boto3.client("stepfunctions", region_name=config.region),
            config=config,
        )


# -- identities ---------------------------------------------------------------

is_iam_principal = identity.is_iam_principal


def is_admin(caller: str, config: AdsConfig) -> bool:
    return any(identity.principal_matches(caller, p) for p in config.admin_principals)


def _require_caller(caller: str) -> str:
    if not caller:
        raise MissingIdentityError()
    return caller


def _readable(ctx: DeploymentContext, lab_id: str, caller: str) -> LabRecord:
    """The lab when ``caller`` may see it; otherwise it does not exist for them (404)."""
    _require_caller(caller)
    record = ctx.repository.get(lab_id) if is_valid_lab_id(lab_id) else None
    if record is None or not (
        identity.principal_matches(caller, record.owner) or is_admin(caller, ctx.config)
    ):
        raise LabNotFoundError(lab_id)
    return record


# -- validation -----------------------------------------------------------------

# SSH remotes are refused by the request model (ads.api_models.is_ssh_remote).
_GIT_REMOTE = (re.compile(r"^https://[^\s/@]+(@[^\s/]+)?/\S+$"),)
_GIT_LOCAL = (re.compile(r"^file:///[^\n]+$"), re.compile(r"^/[^\n]*[^/\n]$"))
_GIT_REF = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/+@-]{1,255}$")
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+$")


def _found(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def source_problems(
    source: LabSource | None, config: AdsConfig, requester: SourceReader | None = None
) -> list[FieldProblem]:
    """What is wrong with a request's ``source`` (empty when it can be used).
    ``requester``: the OS user who asked, when the front door knows them (local sources
    are read with their rights)."""
    if source is None:
        return []
    problems: list[FieldProblem] = []
    one_of = "exactly one of source.git or source.s3"
    if source.git is None and source.s3 is None:
        problems.append(FieldProblem("source", "neither git nor s3", one_of))
    if source.git is not None and source.s3 is not None:
        problems.append(FieldProblem("source", "both git and s3", one_of))
    local = config.provider == "local"
    if source.git is not None:
        allowed = "an https:// URL"
        patterns = _GIT_REMOTE + (_GIT_LOCAL if local else ())
        if local:
            allowed += ", a file:// URL or an absolute path"
        else:
            allowed += " (file:// URLs and paths only with the local provider)"
        if len(source.git) > 2048 or not any(p.match(source.git) for p in patterns):
            problems.append(FieldProblem("source.git", _found(source.git), allowed))
        elif local and (refused := local_source_problem(source.git, config, requester)):
            problems.append(FieldProblem("source.git", refused.found, refused.allowed))
    if source.ref is not None:
        if source.git is None:
            problems.append(FieldProblem("source.ref", _found(source.ref), "only with source.git"))
        elif not _GIT_REF.match(source.ref):
            problems.append(
                FieldProblem(
                    "source.ref",
                    _found(source.ref),
                    "a branch, tag or commit: letters, digits and ._/+@- , not starting with -",
                )
            )
    if source.s3 is not None and not _S3_URI.match(source.s3):
        problems.append(FieldProblem("source.s3", _found(source.s3), "s3://bucket/key"))
    if config.network_egress == "none" and not problems:
        unreachable = egress.git_source_problem(source.git)
        if unreachable:
            problems.append(unreachable)
    return problems


def region_problems(options: DeploymentOptions | None, config: AdsConfig) -> list[FieldProblem]:
    """A deployment runs where the control plane runs (its Lambdas, subnets and security
    groups are there): a request for another region is refused, never planned as if."""
    asked = options.region if options else None
    if asked is None or asked == config.region:
        return []
    allowed = (
        f"{config.region!r}, the region this control plane deploys labs in "
        f"(deploy ADS in {asked} to run labs there)"
    )
    return [FieldProblem("options.region", _found(asked), allowed)]


def what_if_region(plan_region: str, config: AdsConfig) -> str | None:
    """The note a dry-run plan carries when priced for a region its lab would not run in."""
    if plan_region == config.region:
        return None
    return (
        f"region {plan_region} is a what-if for the price only: this control plane deploys "
        f"labs in {config.region}"
    )


# -- plans ----------------------------------------------------------------------


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
    note = what_if_region(answer["region"], config)
    if note:
        answer["warnings"] = [*answer.get("warnings", []), note]
    return answer


# -- requesting a deployment ----------------------------------------------------------


def console_url(execution_arn: str | None) -> str | None:
    """The AWS console page of an execution (its events, inputs and outputs)."""
    if not execution_arn:
        return None
    parts = execution_arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else "us-east-1"
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


def _start_failure(exc: Exception, what: str) -> WorkflowUnavailableError:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        text = exc.response.get("Error", {}).get("Message", "") or str(exc)
        status = 503 if code in _THROTTLED else 502
        return WorkflowUnavailableError(
            f"could not start {what}: Step Functions answered {code}: {text}",
            http_status=status,
            aws_error=code,
        )
    return WorkflowUnavailableError(
        f"could not start {what}: Step Functions is unreachable ({type(exc).__name__}: {exc})",
        http_status=503,
    )


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


def request_deployment(
    ctx: DeploymentContext,
    request: DeploymentRequest,
    *,
    caller: str,
    requested_by: str = "api",
    requested_via: str = "",
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Validate, plan, record and start a deployment; returns the 202 answer.

    ``caller`` becomes the lab's owner. With an ``idempotency_key``, a repeat by the same
    caller returns the lab the first request made (``idempotent_replay: true``).
    ``requested_via`` (a pipeline's ARN or URL, for instance) is kept in the status history.
    """
    owner = _require_caller(caller)
    config = ctx.config
    if not config.deploy_state_machine_arn:
        raise WorkflowUnavailableError(
            "this control plane has no DeployLab state machine configured "
            "(ADS_DEPLOY_STATE_MACHINE_ARN)",
            http_status=503,
        )
    problems = source_problems(request.source, config) + region_problems(request.options, config)
    if problems:
        raise InvalidInputError(problems, subject="request")
    plan = request_plan(request.labspec, request.options, config)
    lab_id = new_lab_id(plan.get("lab_name") or "")
    log = {"lab_id": lab_id, "owner": owner, "requested_by": requested_by}
    options = (request.options or DeploymentOptions()).model_dump(mode="json", exclude_none=True)
    options.setdefault("region", plan.get("region") or config.region)
    source = request.source.model_dump(exclude_none=True) if request.source else None

    if idempotency_key:
        earlier = ctx.repository.claim_idempotency_key(owner, idempotency_key, lab_id)
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
                    f"Idempotency-Key: found {_found(idempotency_key)}, already used for lab "
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
    )
    via = f" by {requested_via}" if requested_via else ""
    record.status_history[0].note = f"requested through {requested_by}{via}"
    try:
        ctx.repository.create(record)
    except Exception:
        if idempotency_key:
            ctx.repository.release_idempotency_key(owner, idempotency_key)
        raise

    try:
        response = ctx.stepfunctions.start_execution(
            stateMachineArn=config.deploy_state_machine_arn,
            name=lab_id,
            input=json.dumps({"lab_id": lab_id}),
        )
    except Exception as exc:
        error = _start_failure(exc, "the DeployLab workflow")
        logger.error("deploy execution not started", cause=error.message, **log)
        ctx.repository.transition(
            lab_id,
            LabStatus.FAILED,
            note="workflow not started",
            failed_step="request",
            cause=error.message,
        )
        # The key must not pin a request that never started: a retry may succeed.
        if idempotency_key:
            ctx.repository.release_idempotency_key(owner, idempotency_key)
        raise error from exc

    execution_arn = response["executionArn"]
    try:
        record = ctx.repository.update_fields(lab_id, execution_arn=execution_arn)
    except Exception:
        # The workflow runs either way; only the link from the record is missing.
        logger.exception("execution ARN not stored", execution_arn=execution_arn, **log)
        record = record.model_copy(update={"execution_arn": execution_arn})
    logger.info("deployment requested", execution_arn=execution_arn, **log)
    return _accepted(record, replay=False)


# -- reading labs -------------------------------------------------------------------


def _statuses(value: str | list[str] | None) -> list[LabStatus]:
    if not value:
        return []
    items = value if isinstance(value, list) else [value]
    names = [part.strip().upper() for item in items for part in item.split(",") if part.strip()]
    wrong = [n for n in names if n not in LabStatus.__members__]
    if wrong:
        raise InvalidInputError(
            FieldProblem(
                "status", _found(",".join(wrong)), "comma-separated: " + ", ".join(LabStatus)
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
    _require_caller(caller)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(
            FieldProblem("limit", str(limit), f"an integer from 1 to {MAX_PAGE}"), subject="query"
        )
    statuses = _statuses(status)
    if is_admin(caller, ctx.config):
        records, token = ctx.repository.list_all(
            status=statuses, limit=limit, next_token=next_token
        )
    else:
        records, token = ctx.repository.list_for_owner(
            caller, status=statuses, limit=limit, next_token=next_token
        )
    labs = [LabSummary.model_validate(r.model_dump(mode="json")) for r in records]
    return LabPage(labs=labs, next_token=token).model_dump(mode="json")


def get_lab(ctx: DeploymentContext, lab_id: str, *, caller: str) -> dict[str, Any]:
    """The lab record's public view, with links to its executions in the console."""
    record = _readable(ctx, lab_id, caller)
    view = LabView.model_validate(
        dict(
            record.public_view(),
            console_url=console_url(record.execution_arn),
            destroy_console_url=console_url(record.destroy_execution_arn),
        )
    )
    return view.model_dump(mode="json")


# -- destroying -----------------------------------------------------------------------

_ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")


def _execution_status(ctx: DeploymentContext, execution_arn: str) -> str:
    """RUNNING, SUCCEEDED, FAILED, ... or ABSENT when Step Functions does not know it."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return ctx.stepfunctions.describe_execution(executionArn=execution_arn)["status"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ExecutionDoesNotExist":
            return "ABSENT"
        raise WorkflowUnavailableError(
            f"could not read execution {execution_arn}: Step Functions answered {code}",
            http_status=503 if code in _THROTTLED else 502,
        ) from exc
    except BotoCoreError as exc:
        raise WorkflowUnavailableError(
            f"could not read execution {execution_arn}: Step Functions is unreachable ({exc})",
            http_status=503,
        ) from exc


def _destroy_number(lab_id: str, execution_arn: str | None) -> int:
    if not execution_arn:
        return 0
    match = re.fullmatch(rf"{re.escape(lab_id)}-destroy-(\d+)", execution_arn.rsplit(":", 1)[-1])
    return int(match.group(1)) if match else 0


def _destroy_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def _stop_deploy(ctx: DeploymentContext, record: LabRecord, caller: str) -> None:
    """Stop a deployment still in flight, so DestroyLab does not race its steps."""
    from botocore.exceptions import ClientError

    if not record.execution_arn:
        return
    try:
        if _execution_status(ctx, record.execution_arn) != "RUNNING":
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


def request_destroy(ctx: DeploymentContext, lab_id: str, *, caller: str) -> dict[str, Any]:
    """Move the lab to DESTROYING and start DestroyLab; returns the 202 answer.

    Destroying a lab that is DESTROYED is an illegal state change (409). A lab that is
    DESTROYING with its DestroyLab running (or done) answers the same 202 again, so
    concurrent or retried destroys agree. A DESTROYING lab whose DestroyLab failed or
    never started may be destroyed again: the next execution is numbered after it.
    """
    record = _readable(ctx, lab_id, caller)
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
    previous = _destroy_number(lab_id, record.destroy_execution_arn)
    if record.status == LabStatus.DESTROYING:
        running = record.destroy_execution_arn and _execution_status(
            ctx, record.destroy_execution_arn
        ) not in (*_ENDED_BADLY, "ABSENT")
        if running:
            # A repeat (or a concurrent second request) asks for what is already
            # happening: the same answer, so a retried destroy is never an error.
            return _destroy_accepted(lab_id, record.destroy_execution_arn)
        number = previous + 1 if record.destroy_execution_arn else max(previous, 1)
    else:
        number = previous + 1
        was = record.status
        ctx.repository.transition(
            lab_id, LabStatus.DESTROYING, note=f"destroy requested by {caller}"
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
        if _is_already_running(exc):
            # A concurrent destroy of the same lab started it: same answer for both.
            execution_arn = _destroy_arn(config.destroy_state_machine_arn, name)
        else:
            error = _start_failure(exc, "the DestroyLab workflow")
            logger.error("destroy execution not started", lab_id=lab_id, cause=error.message)
            ctx.repository.update_fields(lab_id, cause=error.message)
            raise error from exc
    ctx.repository.update_fields(lab_id, destroy_execution_arn=execution_arn)
    logger.info("destroy requested", lab_id=lab_id, execution_arn=execution_arn, owner=caller)
    return _destroy_accepted(lab_id, execution_arn)


def _destroy_accepted(lab_id: str, execution_arn: str | None) -> dict[str, Any]:
    return DestroyAccepted(
        lab_id=lab_id,
        status=LabStatus.DESTROYING.value,
        execution_arn=execution_arn,
        console_url=console_url(execution_arn),
    ).model_dump(mode="json")


def _is_already_running(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return (
        isinstance(exc, ClientError)
        and exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists"
    )


# -- history ---------------------------------------------------------------------------

_ATTEMPT_EVENTS = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")
_FAILURE_EVENTS = {
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "TaskStartFailed": "taskStartFailedEventDetails",
    "TaskSubmitFailed": "taskSubmitFailedEventDetails",
    "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
    "LambdaFunctionTimedOut": "lambdaFunctionTimedOutEventDetails",
    "LambdaFunctionStartFailed": "lambdaFunctionStartFailedEventDetails",
    "ActivityFailed": "activityFailedEventDetails",
    "ActivityTimedOut": "activityTimedOutEventDetails",
}
_EXECUTION_END = {
    "ExecutionSucceeded": None,
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
}


def _when(value: Any) -> str | None:
    if isinstance(value, datetime):
        return iso(value)
    return str(value) if value else None


def _readable_cause(cause: str | None) -> str | None:
    """A Lambda's cause is a JSON document with a stack trace: keep the message."""
    if not cause:
        return None
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            cause = str(parsed["errorMessage"])
    except (ValueError, TypeError):
        pass
    return cause if len(cause) <= MAX_CAUSE_CHARS else cause[: MAX_CAUSE_CHARS - 3] + "..."


def _state_error(details: dict[str, Any] | None) -> StateError | None:
    if not details:
        return None
    return StateError(error=details.get("error"), cause=_readable_cause(details.get("cause")))


def summarise_states(events: list[dict[str, Any]]) -> tuple[list[StateSummary], StateError | None]:
    """Turn Step Functions history events into one row per state visit.

    A state is RUNNING until it exits, RETRYING while its last attempt failed and the
    Retry waits, FAILED when it exits (caught) or the execution ends after a failed
    attempt, SUCCEEDED otherwise.
    """
    rows: list[dict[str, Any]] = []
    execution_error: StateError | None = None

    def close(row: dict[str, Any], at: Any, status: str) -> None:
        row["status"] = status
        row["exited_at"] = at

    for event in events:
        kind = event.get("type", "")
        at = event.get("timestamp")
        if kind.endswith("StateEntered"):
            name = (event.get("stateEnteredEventDetails") or {}).get("name", "?")
            row = {
                "name": name,
                "status": "RUNNING",
                "entered_at": at,
                "exited_at": None,
                "attempts": 0,
                "error": None,
                "last_failed": False,
            }
            rows.append(row)
            if kind == "FailStateEntered":
                close(row, at, "FAILED")
        elif kind.endswith("StateExited"):
            name = (event.get("stateExitedEventDetails") or {}).get("name", "?")
            open_rows = [r for r in rows if r["name"] == name and r["exited_at"] is None]
            if open_rows:
                row = open_rows[-1]
                close(row, at, "FAILED" if row["last_failed"] else "SUCCEEDED")
        elif kind in _ATTEMPT_EVENTS and rows:
            rows[-1]["attempts"] += 1
            rows[-1]["last_failed"] = False
            rows[-1]["status"] = "RUNNING"
        elif kind in _FAILURE_EVENTS and rows:
            rows[-1]["error"] = _state_error(event.get(_FAILURE_EVENTS[kind]))
            rows[-1]["last_failed"] = True
            rows[-1]["status"] = "RETRYING"
        elif kind in _EXECUTION_END:
            details_key = _EXECUTION_END[kind]
            if details_key:
                execution_error = _state_error(event.get(details_key)) or StateError(error=kind)
            for row in rows:
                if row["exited_at"] is None:
                    ended_badly = details_key is not None
                    close(row, at, "FAILED" if ended_badly else "SUCCEEDED")
            if (
                rows
                and execution_error
                and rows[-1]["error"] is None
                and rows[-1]["status"] == "FAILED"
            ):
                rows[-1]["error"] = execution_error

    summaries = []
    for row in rows:
        entered, exited = row["entered_at"], row["exited_at"]
        duration = None
        if isinstance(entered, datetime) and isinstance(exited, datetime):
            duration = int((exited - entered).total_seconds() * 1000)
        summaries.append(
            StateSummary(
                name=row["name"],
                status=row["status"],
                entered=_when(entered),
                exited=_when(exited),
                duration_ms=duration,
                attempts=row["attempts"],
                error=row["error"],
            )
        )
    return summaries, execution_error


def _history_events(ctx: DeploymentContext, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    paginator = ctx.stepfunctions.get_paginator("get_execution_history")
    for page in paginator.paginate(executionArn=execution_arn, includeExecutionData=False):
        events.extend(page.get("events", []))
        if len(events) >= MAX_HISTORY_EVENTS:
            break
    return events[:MAX_HISTORY_EVENTS]


def summarise_execution(ctx: DeploymentContext, kind: str, execution_arn: str) -> ExecutionSummary:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        described = ctx.stepfunctions.describe_execution(executionArn=execution_arn)
        events = _history_events(ctx, execution_arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return ExecutionSummary(
                kind=kind,
                execution_arn=execution_arn,
                status="UNKNOWN",
                console_url=console_url(execution_arn),
            )
        code = exc.response.get("Error", {}).get("Code", "")
        raise WorkflowUnavailableError(
            f"could not read the execution history of {execution_arn}: "
            f"Step Functions answered {code}",
            http_status=503 if code in _THROTTLED else 502,
        ) from exc
    except BotoCoreError as exc:
        raise WorkflowUnavailableError(
            f"could not read the execution history: Step Functions is unreachable ({exc})",
            http_status=503,
        ) from exc
    states, error = summarise_states(events)
    if error is None and (described.get("error") or described.get("cause")):
        error = _state_error(described)
    return ExecutionSummary(
        kind=kind,
        execution_arn=execution_arn,
        status=described.get("status", "UNKNOWN"),
        started=_when(described.get("startDate")),
        stopped=_when(described.get("stopDate")),
        console_url=console_url(execution_arn),
        error=error,
        states=states,
    )


def lab_history(ctx: DeploymentContext, lab_id: str, *, caller: str) -> dict[str, Any]:
    """The lab's status changes and a summary of each of its workflow executions."""
    record = _readable(ctx, lab_id, caller)
    executions: list[ExecutionSummary] = []
    if record.execution_arn:
        executions.append(summarise_execution(ctx, "deploy", record.execution_arn))
    if record.destroy_execution_arn:
        last = _destroy_number(lab_id, record.destroy_execution_arn)
        state_machine = record.destroy_execution_arn.rsplit(":", 1)[0].replace(
            ":execution:", ":stateMachine:", 1
        )
        arns = [_destroy_arn(state_machine, f"{lab_id}-destroy-{n}") for n in range(1, last)]
        for arn in [*arns, record.destroy_execution_arn]:
            executions.append(summarise_execution(ctx, "destroy", arn))
    history = LabHistory(
        lab_id=lab_id,
        status_history=[c.model_dump(mode="json") for c in record.status_history],
        executions=executions,
    )
    return history.model_dump(mode="json")
