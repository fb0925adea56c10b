"""Logs for the ``ec2`` provider: SSM Run Command runs the agent's ``logs`` command.

Why SSM and not the agent's HTTP API: the run logs are files on the VM, the api Lambda
stays out of the VPC, and no new port opens to the instance; the agent bounds its answer
to fit the 24,000 characters of standard output GetCommandInvocation returns. The caller
waits a few seconds for the answer: right after SendCommand the invocation may not be
visible yet (InvocationDoesNotExist), then Pending/InProgress.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ads.providers.ec2_actions import IN_PROGRESS
from ads.providers.throttling import error_code, error_message
from ads.providers.vm_logs import (
    LogsNotReady,
    LogsRequest,
    LogsUnreadable,
    UnknownLogs,
    parse_agent_answer,
)

# SSM's GetCommandInvocation returns at most this many characters of standard output.
SSM_OUTPUT_LIMIT = 24_000
DELIVERY_TIMEOUT_S = 30
EXECUTION_TIMEOUT_S = 30
WAIT_S = 20.0
POLL_S = 0.5

Call = Callable[..., Any]


def logs_script(prefix: str, request: LogsRequest) -> str:
    quoted = shlex.quote(prefix)
    arguments = " ".join(shlex.quote(a) for a in request.agent_arguments())
    return (
        "set -e\n"
        f"cd {quoted}/agent\n"
        f"exec python3 -m ads_agent {arguments} --state-dir {quoted}/state --lab-dir {quoted}/lab\n"
    )


def read_logs(
    call: Call,
    ssm: Any,
    *,
    lab_id: str,
    vm_id: str,
    prefix: str,
    request: LogsRequest,
    wait_s: float = WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Send the logs command to the instance and wait (at most ``wait_s``) for its answer."""
    try:
        sent = call(
            ssm,
            "send_command",
            InstanceIds=[vm_id],
            DocumentName="AWS-RunShellScript",
            Comment=f"ADS logs {lab_id}"[:100],
            Parameters={
                "commands": [logs_script(prefix, request)],
                "executionTimeout": [str(EXECUTION_TIMEOUT_S)],
            },
            TimeoutSeconds=DELIVERY_TIMEOUT_S,
        )
    except ClientError as exc:
        raise LogsUnreadable(
            f"SendCommand (logs) to {vm_id} refused: {error_code(exc)}: {error_message(exc)}"
        ) from exc
    command_id = str(sent["Command"]["CommandId"])
    deadline = clock() + wait_s
    while True:
        answer = _invocation(call, ssm, vm_id, command_id)
        if answer is not None:
            return _document(answer, vm_id)
        if clock() >= deadline:
            raise LogsNotReady(
                f"{vm_id} did not answer the logs command {command_id} within {wait_s:g} s"
            )
        sleep(POLL_S)


def _invocation(call: Call, ssm: Any, vm_id: str, command_id: str) -> dict[str, Any] | None:
    """The finished invocation, or None while it is not visible or still running."""
    try:
        response = call(ssm, "get_command_invocation", CommandId=command_id, InstanceId=vm_id)
    except ClientError as exc:
        if error_code(exc) == "InvocationDoesNotExist":
            return None
        raise
    return None if str(response.get("Status", "")) in IN_PROGRESS else dict(response)


def _document(response: dict[str, Any], vm_id: str) -> dict[str, Any]:
    status = str(response.get("Status", ""))
    stdout = str(response.get("StandardOutputContent") or "")
    if len(stdout) >= SSM_OUTPUT_LIMIT:
        raise LogsUnreadable(
            f"{vm_id}: the logs answer was cut at SSM's {SSM_OUTPUT_LIMIT} characters"
        )
    code = response.get("ResponseCode")
    if status == "Success":
        return parse_agent_answer(0, stdout, vm_id)
    if status == "Failed" and isinstance(code, int) and code >= 0:
        return parse_agent_answer(code, stdout, vm_id)
    details = str(response.get("StatusDetails") or status)
    raise LogsUnreadable(f"{vm_id}: the logs command ended {details} without an answer")


__all__ = ["LogsNotReady", "LogsUnreadable", "UnknownLogs", "logs_script", "read_logs"]
