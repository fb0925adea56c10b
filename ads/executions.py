"""A lab's Step Functions executions: their names, console links, status and failures.

Every front door starts and reads executions through these functions, so a refusal by
Step Functions always becomes the same :class:`WorkflowUnavailableError` (502 when it
said no, 503 when it was throttled or unreachable: a retry may cure those).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ads.errors import AdsError

if TYPE_CHECKING:
    from ads.deployment_context import DeploymentContext

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
# Execution statuses after which a destroy may be tried again.
ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")


class WorkflowUnavailableError(AdsError):
    """Step Functions refused or could not be reached; nothing was left half-created."""

    code = "workflow_unavailable"

    def __init__(self, message: str, *, http_status: int = 502, **details: Any) -> None:
        super().__init__(message, **details)
        self.http_status = http_status


def http_status_for(aws_error: str) -> int:
    """503 for an error a retry may cure (throttling, a service fault), else 502."""
    return 503 if aws_error in _THROTTLED else 502


def error_code(exc: Any) -> str:
    return exc.response.get("Error", {}).get("Code", "")


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


def start_failure(exc: Exception, what: str) -> WorkflowUnavailableError:
    """The error to answer when StartExecution of ``what`` raised ``exc``."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = error_code(exc)
        text = exc.response.get("Error", {}).get("Message", "") or str(exc)
        return WorkflowUnavailableError(
            f"could not start {what}: Step Functions answered {code}: {text}",
            http_status=http_status_for(code),
            aws_error=code,
        )
    return WorkflowUnavailableError(
        f"could not start {what}: Step Functions is unreachable ({type(exc).__name__}: {exc})",
        http_status=503,
    )


def is_already_running(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError) and error_code(exc) == "ExecutionAlreadyExists"


def execution_status(ctx: DeploymentContext, execution_arn: str) -> str:
    """RUNNING, SUCCEEDED, FAILED, ... or ABSENT when Step Functions does not know it."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return ctx.stepfunctions.describe_execution(executionArn=execution_arn)["status"]
    except ClientError as exc:
        code = error_code(exc)
        if code == "ExecutionDoesNotExist":
            return "ABSENT"
        raise WorkflowUnavailableError(
            f"could not read execution {execution_arn}: Step Functions answered {code}",
            http_status=http_status_for(code),
        ) from exc
    except BotoCoreError as exc:
        raise WorkflowUnavailableError(
            f"could not read execution {execution_arn}: Step Functions is unreachable ({exc})",
            http_status=503,
        ) from exc


# A lab's destroys are executions named <lab id>-destroy-<n>, numbered from 1: a repeat
# after a failed destroy gets the next number, a concurrent one collides on the name.


def destroy_number(lab_id: str, execution_arn: str | None) -> int:
    if not execution_arn:
        return 0
    match = re.fullmatch(rf"{re.escape(lab_id)}-destroy-(\d+)", execution_arn.rsplit(":", 1)[-1])
    return int(match.group(1)) if match else 0


def destroy_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def destroy_arns(lab_id: str, last_destroy_arn: str) -> list[str]:
    """Every destroy execution of the lab, the last one included, in order."""
    last = destroy_number(lab_id, last_destroy_arn)
    state_machine = last_destroy_arn.rsplit(":", 1)[0].replace(":execution:", ":stateMachine:", 1)
    arns = [destroy_arn(state_machine, f"{lab_id}-destroy-{n}") for n in range(1, last)]
    return [*arns, last_destroy_arn]
