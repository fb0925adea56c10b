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

from ads.providers.ssm_commands import Call, Invocation, read_invocation, send_shell_script
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
    command_id = send_shell_script(
        call,
        ssm,
        vm_id=vm_id,
        what="logs",
        script=logs_script(prefix, request),
        comment=f"ADS logs {lab_id}",
        execution_timeout_s=EXECUTION_TIMEOUT_S,
        delivery_timeout_s=DELIVERY_TIMEOUT_S,
        refused=LogsUnreadable,
    )
    deadline = clock() + wait_s
    while True:
        invocation = read_invocation(call, ssm, vm_id, command_id)
        if invocation.progress is None:
            return _document(invocation, vm_id)
        if clock() >= deadline:
            raise LogsNotReady(
                f"{vm_id} did not answer the logs command {command_id} within {wait_s:g} s"
            )
        sleep(POLL_S)


def _document(invocation: Invocation, vm_id: str) -> dict[str, Any]:
    stdout = invocation.stdout
    if len(stdout) >= SSM_OUTPUT_LIMIT:
        raise LogsUnreadable(
            f"{vm_id}: the logs answer was cut at SSM's {SSM_OUTPUT_LIMIT} characters"
        )
    code = invocation.exit_code
    if invocation.status == "Success":
        return parse_agent_answer(0, stdout, vm_id)
    if invocation.status == "Failed" and code is not None and code >= 0:
        return parse_agent_answer(code, stdout, vm_id)
    raise LogsUnreadable(f"{vm_id}: the logs command ended {invocation.detail} without an answer")


__all__ = ["LogsNotReady", "LogsUnreadable", "UnknownLogs", "logs_script", "read_logs"]
