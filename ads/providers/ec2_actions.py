"""Lab actions for the ``ec2`` provider: SSM Run Command runs the agent's ``action NAME``.

The command is the installed agent (``python3 -m ads_agent action NAME``) through the
``AWS-RunShellScript`` document, with an ``executionTimeout`` so a hung action ends on
the VM too; ``GetCommandInvocation`` reports its end. The agent prints its output tail
on success and on failure, so the invocation's standard output is the action's answer.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ads.providers.base import InitFailed, InitStatus, output_tail
from ads.providers.throttling import error_code, error_message

# How long SSM may take to deliver the command to the instance's agent.
ACTION_DELIVERY_TIMEOUT_S = 600
IN_PROGRESS = frozenset({"Pending", "InProgress", "Delayed"})
# SSM's ResponseCode when the command did not run to an exit (timed out, cancelled).
NO_EXIT_CODE = -1

Call = Callable[..., Any]


def action_script(prefix: str, name: str) -> str:
    quoted = shlex.quote(prefix)
    return (
        "set -e\n"
        f"cd {quoted}/agent\n"
        f"exec python3 -m ads_agent action {shlex.quote(name)} "
        f"--state-dir {quoted}/state --lab-dir {quoted}/lab\n"
    )


def send_action(
    call: Call, ssm: Any, *, lab_id: str, vm_id: str, name: str, prefix: str, timeout_s: int
) -> str:
    """Send action ``name`` to the instance; the command id to follow."""
    try:
        response = call(
            ssm,
            "send_command",
            InstanceIds=[vm_id],
            DocumentName="AWS-RunShellScript",
            Comment=f"ADS action {name} {lab_id}"[:100],
            Parameters={
                "commands": [action_script(prefix, name)],
                "executionTimeout": [str(timeout_s)],
            },
            TimeoutSeconds=ACTION_DELIVERY_TIMEOUT_S,
        )
    except ClientError as exc:
        raise InitFailed(
            f"SendCommand (action {name}) to {vm_id} refused: {error_code(exc)}: "
            f"{error_message(exc)}"
        ) from exc
    return str(response["Command"]["CommandId"])


def action_status(call: Call, ssm: Any, vm_id: str, command_id: str) -> InitStatus:
    try:
        response = call(ssm, "get_command_invocation", CommandId=command_id, InstanceId=vm_id)
    except ClientError as exc:
        # Right after SendCommand the invocation may not be visible yet.
        if error_code(exc) == "InvocationDoesNotExist":
            return InitStatus(state="in_progress", detail="invocation not visible yet")
        raise
    status = str(response.get("Status", ""))
    if status in IN_PROGRESS:
        return InitStatus(state="in_progress", detail=status)
    stdout = str(response.get("StandardOutputContent") or "")
    stderr = str(response.get("StandardErrorContent") or "")
    tail = output_tail("\n".join(part for part in (stdout, stderr) if part.strip()))
    if status == "Success":
        return InitStatus(state="success", exit_code=0, output_tail=tail, detail=status)
    code = response.get("ResponseCode")
    return InitStatus(
        state="failed",
        exit_code=int(code) if isinstance(code, int) and code != NO_EXIT_CODE else None,
        output_tail=tail,
        detail=str(response.get("StatusDetails") or status),
    )
